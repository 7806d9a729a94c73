using SpecKit.Kernel.Guest;

namespace SpecKit.Kernel.Tests;

/// <summary>The assembler's encodings against the SDM Vol. 2 opcode tables, one instruction each.</summary>
[Trait("Category", "kernel")]
public sealed class GuestCodeTests
{
    public static TheoryData<string, byte[], byte[]> Encodings => new()
    {
        { "xor edi, edi (33 /r)", Encode(a => a.XorReg(Reg32.Edi, Reg32.Edi)), [0x33, 0xFF] },
        { "cmp edi, [ecx] (3B /r)", Encode(a => a.CmpMem(Reg32.Edi, Reg32.Ecx)), [0x3B, 0x39] },
        { "mov ebx, [esi+4] (8B /r disp8)", Encode(a => a.Load32(Reg32.Ebx, Reg32.Esi, 4)), [0x8B, 0x5E, 0x04] },
        { "movzx eax, byte [ebx] (0F B6 /r)", Encode(a => a.Load8Zx(Reg32.Eax, Reg32.Ebx)), [0x0F, 0xB6, 0x03] },
        { "movzx eax, word [ebx] (0F B7 /r)", Encode(a => a.Load16Zx(Reg32.Eax, Reg32.Ebx)), [0x0F, 0xB7, 0x03] },
        { "mov [ebx], dl (88 /r)", Encode(a => a.Store8(Reg32.Ebx, Reg32.Edx)), [0x88, 0x13] },
        { "mov [ebx], dx (66 89 /r)", Encode(a => a.Store16(Reg32.Ebx, Reg32.Edx)), [0x66, 0x89, 0x13] },
        { "mov [esi+8], eax (89 /r disp8)", Encode(a => a.Store32(Reg32.Esi, Reg32.Eax, 8)), [0x89, 0x46, 0x08] },
        { "cmp eax, 7 (83 /7 ib)", Encode(a => a.CmpImm(Reg32.Eax, 7)), [0x83, 0xF8, 0x07] },
        { "add esi, 16 (83 /0 ib)", Encode(a => a.AddImm(Reg32.Esi, 16)), [0x83, 0xC6, 0x10] },
        { "inc edi (40+rd)", Encode(a => a.Inc(Reg32.Edi)), [0x47] },
        { "out 0x10, al (E6 ib)", Encode(a => a.OutAl(0x10)), [0xE6, 0x10] },
    };

    [Theory]
    [MemberData(nameof(Encodings))]
    public void Instructions_encode_as_the_SDM_lists_them(string instruction, byte[] emitted, byte[] expected)
    {
        Assert.False(string.IsNullOrEmpty(instruction));
        Assert.Equal(expected, emitted);
    }

    [Fact]
    public void Jumps_are_relative_to_the_next_instruction()
    {
        var a = new Asm32();
        a.Label("top");
        a.Inc(Reg32.Edi);
        a.Jmp("top");
        a.Je("end");
        a.Label("end");
        Assert.Equal(new byte[] { 0x47, 0xE9, 0xFA, 0xFF, 0xFF, 0xFF, 0x0F, 0x84, 0x00, 0x00, 0x00, 0x00 }, a.Assemble());
    }

    [Fact]
    public void An_undefined_label_is_an_error_not_a_jump_to_zero()
    {
        var a = new Asm32();
        a.Jmp("nowhere");
        Assert.Throws<InvalidOperationException>(a.Assemble);
    }

    [Fact]
    public void Store8_refuses_registers_that_are_the_high_bytes_without_REX() =>
        Assert.Throws<ArgumentException>(() => new Asm32().Store8(Reg32.Ebx, Reg32.Esi));

    private static byte[] Encode(Action<Asm32> emit)
    {
        var a = new Asm32();
        emit(a);
        return a.Assemble();
    }
}
