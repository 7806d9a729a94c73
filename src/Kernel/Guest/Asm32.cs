namespace SpecKit.Kernel.Guest;

/// <summary>The 32-bit general registers, numbered as ModRM.reg/rm encode them (SDM Vol. 2, Table 2-2).</summary>
internal enum Reg32
{
    Eax = 0,
    Ecx = 1,
    Edx = 2,
    Ebx = 3,
    Esp = 4,
    Ebp = 5,
    Esi = 6,
    Edi = 7,
}

/// <summary>
/// Just enough of an x86 assembler for the batch guest, in 32-bit protected mode (CS.D = 1), so
/// that the guest is written as instructions rather than bytes. Encodings follow the SDM Vol. 2
/// opcode tables; jumps are rel32 and resolved when <see cref="Assemble"/> is called.
/// </summary>
internal sealed class Asm32
{
    private readonly List<byte> _code = [];
    private readonly Dictionary<string, int> _labels = [];
    private readonly List<(int At, string Label)> _fixups = [];

    public int Position => _code.Count;

    public void Label(string name)
    {
        if (!_labels.TryAdd(name, _code.Count))
        {
            throw new InvalidOperationException($"label {name} defined twice");
        }
    }

    /// <summary>XOR r32, r/m32: 33 /r, register form.</summary>
    public void XorReg(Reg32 dst, Reg32 src) => Emit(0x33, ModRm(3, dst, src));

    /// <summary>MOV r32, [base + disp8]: 8B /r.</summary>
    public void Load32(Reg32 dst, Reg32 @base, sbyte disp = 0) => EmitMem(0x8B, dst, @base, disp);

    /// <summary>MOVZX r32, byte [base]: 0F B6 /r.</summary>
    public void Load8Zx(Reg32 dst, Reg32 @base)
    {
        Emit(0x0F);
        EmitMem(0xB6, dst, @base, 0);
    }

    /// <summary>MOVZX r32, word [base]: 0F B7 /r.</summary>
    public void Load16Zx(Reg32 dst, Reg32 @base)
    {
        Emit(0x0F);
        EmitMem(0xB7, dst, @base, 0);
    }

    /// <summary>MOV [base + disp8], r32: 89 /r.</summary>
    public void Store32(Reg32 @base, Reg32 src, sbyte disp = 0) => EmitMem(0x89, src, @base, disp);

    /// <summary>MOV [base], r16: 66 89 /r (operand-size prefix).</summary>
    public void Store16(Reg32 @base, Reg32 src)
    {
        Emit(0x66);
        EmitMem(0x89, src, @base, 0);
    }

    /// <summary>MOV [base], r8: 88 /r; only AL, CL, DL and BL (the low bytes, encodings 0-3).</summary>
    public void Store8(Reg32 @base, Reg32 src)
    {
        if ((int)src > 3)
        {
            throw new ArgumentException("without REX, r8 encodings 4-7 are AH, CH, DH, BH", nameof(src));
        }

        EmitMem(0x88, src, @base, 0);
    }

    /// <summary>CMP r32, [base]: 3B /r.</summary>
    public void CmpMem(Reg32 reg, Reg32 @base) => EmitMem(0x3B, reg, @base, 0);

    /// <summary>CMP r32, imm8: 83 /7 ib.</summary>
    public void CmpImm(Reg32 reg, sbyte imm) => Emit(0x83, ModRm(3, 7, (int)reg), (byte)imm);

    /// <summary>ADD r32, imm8: 83 /0 ib.</summary>
    public void AddImm(Reg32 reg, sbyte imm) => Emit(0x83, ModRm(3, 0, (int)reg), (byte)imm);

    /// <summary>INC r32: 40+rd (the one-byte form of 32-bit mode).</summary>
    public void Inc(Reg32 reg) => Emit((byte)(0x40 + (int)reg));

    /// <summary>JMP rel32: E9 cd.</summary>
    public void Jmp(string label)
    {
        Emit(0xE9);
        Fixup(label);
    }

    /// <summary>JE rel32: 0F 84 cd.</summary>
    public void Je(string label)
    {
        Emit(0x0F, 0x84);
        Fixup(label);
    }

    /// <summary>JAE rel32: 0F 83 cd.</summary>
    public void Jae(string label)
    {
        Emit(0x0F, 0x83);
        Fixup(label);
    }

    /// <summary>OUT imm8, AL: E6 ib.</summary>
    public void OutAl(byte port) => Emit(0xE6, port);

    /// <summary>HLT: F4.</summary>
    public void Hlt() => Emit(0xF4);

    /// <summary>UD2: 0F 0B.</summary>
    public void Ud2() => Emit(0x0F, 0x0B);

    public byte[] Assemble()
    {
        var code = _code.ToArray();
        foreach (var (at, label) in _fixups)
        {
            if (!_labels.TryGetValue(label, out var target))
            {
                throw new InvalidOperationException($"label {label} is never defined");
            }

            BitConverter.TryWriteBytes(code.AsSpan(at, 4), target - (at + 4));
        }

        return code;
    }

    // [base + disp8] with mod 00 or 01; ESP and EBP as a base need a SIB byte or mod 01, which the guest never uses.
    private void EmitMem(byte opcode, Reg32 reg, Reg32 @base, sbyte disp)
    {
        if (@base is Reg32.Esp or Reg32.Ebp)
        {
            throw new ArgumentException("ESP/EBP-based operands are not encoded here", nameof(@base));
        }

        if (disp == 0)
        {
            Emit(opcode, ModRm(0, reg, @base));
        }
        else
        {
            Emit(opcode, ModRm(1, reg, @base), (byte)disp);
        }
    }

    private static byte ModRm(int mod, Reg32 reg, Reg32 rm) => ModRm(mod, (int)reg, (int)rm);

    private static byte ModRm(int mod, int reg, int rm) => (byte)((mod << 6) | (reg << 3) | rm);

    private void Fixup(string label)
    {
        _fixups.Add((_code.Count, label));
        Emit32(0);
    }

    private void Emit(params byte[] bytes) => _code.AddRange(bytes);

    private void Emit32(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BitConverter.TryWriteBytes(bytes, value);
        _code.AddRange(bytes);
    }
}
