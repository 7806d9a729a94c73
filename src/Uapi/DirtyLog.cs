using System.Globalization;
using System.Numerics;
using System.Text;

namespace SpecKit.Uapi;

/// <summary>
/// A dirty bitmap as KVM_GET_DIRTY_LOG copies it out and KVM_CLEAR_DIRTY_LOG reads it: one bit
/// per page, 64 pages to an unsigned long, page 0 in bit 0 of word 0 (kvm_dirty_bitmap_bytes()
/// rounds the slot up to whole longs, so bits past <see cref="Npages"/> exist and are zero).
/// </summary>
public sealed class DirtyBitmap : IEquatable<DirtyBitmap>
{
    public DirtyBitmap(ulong npages)
        : this(npages, new ulong[(npages + 63) / 64])
    {
    }

    public DirtyBitmap(ulong npages, ulong[] words)
    {
        if ((ulong)words.Length != (npages + 63) / 64)
        {
            throw new ArgumentException($"{npages} pages take {(npages + 63) / 64} longs, not {words.Length}", nameof(words));
        }

        Npages = npages;
        Words = words;
    }

    public ulong Npages { get; }

    public ulong[] Words { get; }

    public bool this[ulong page]
    {
        get => (Words[page / 64] & (1UL << (int)(page % 64))) != 0;
        set
        {
            if (value)
            {
                Words[page / 64] |= 1UL << (int)(page % 64);
            }
            else
            {
                Words[page / 64] &= ~(1UL << (int)(page % 64));
            }
        }
    }

    /// <summary>A bitmap with exactly <paramref name="pages"/> set.</summary>
    public static DirtyBitmap Of(ulong npages, params ulong[] pages)
    {
        var bitmap = new DirtyBitmap(npages);
        foreach (var page in pages)
        {
            bitmap[page] = true;
        }

        return bitmap;
    }

    /// <summary>A bitmap with every page set, as bitmap_set(0, npages) leaves it.</summary>
    public static DirtyBitmap All(ulong npages)
    {
        var bitmap = new DirtyBitmap(npages);
        for (ulong page = 0; page < npages; page++)
        {
            bitmap[page] = true;
        }

        return bitmap;
    }

    public IEnumerable<ulong> SetPages()
    {
        for (var i = 0; i < Words.Length; i++)
        {
            var word = Words[i];
            while (word != 0)
            {
                var bit = BitOperations.TrailingZeroCount(word);
                yield return ((ulong)i * 64) + (ulong)bit;
                word &= word - 1;
            }
        }
    }

    public ulong Count => Words.Aggregate(0UL, (n, w) => n + (ulong)BitOperations.PopCount(w));

    public bool Equals(DirtyBitmap? other) => other is not null && Npages == other.Npages && Words.AsSpan().SequenceEqual(other.Words);

    public override bool Equals(object? obj) => Equals(obj as DirtyBitmap);

    public override int GetHashCode() => HashCode.Combine(Npages, Count);

    /// <summary>The set pages as ranges of slot-relative page numbers, e.g. "0x0-0x3, 0x10" or "none".</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        ulong? start = null;
        ulong last = 0;
        foreach (var page in SetPages().Append(ulong.MaxValue))
        {
            if (start is { } s && page != last + 1)
            {
                text.Append(text.Length == 0 ? "" : ", ")
                    .Append(CultureInfo.InvariantCulture, $"0x{s:x}")
                    .Append(last == s ? "" : string.Create(CultureInfo.InvariantCulture, $"-0x{last:x}"));
                start = null;
            }

            if (page == ulong.MaxValue)
            {
                break;
            }

            start ??= page;
            last = page;
        }

        return text.Length == 0 ? "none" : text.ToString();
    }
}

/// <summary>
/// One struct kvm_dirty_gfn of a vCPU's dirty ring as userspace reads it: the memslot (as_id in
/// bits 16-31 of kvm_dirty_gfn.slot) and the page's offset in that slot.
/// </summary>
public readonly record struct DirtyGfn(MemslotId Slot, ulong Offset)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"slot {Slot} offset 0x{Offset:x}");
}
