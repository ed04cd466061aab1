using System.Collections.Concurrent;
using System.Text;

namespace Fusion.Models.Clip;

/// <summary>
/// CLIP's byte-level BPE over one pre-tokenised piece: UTF-8 bytes mapped through GPT-2's <c>bytes_to_unicode</c>,
/// <c>&lt;/w&gt;</c> attached to the last symbol, then the lowest-ranked adjacent pair merged (all its non-overlapping
/// occurrences, left to right) until no ranked pair remains — openai's <c>SimpleTokenizer.bpe</c>. Thread-safe.
/// </summary>
public sealed class ClipBpe
{
    public const string EndOfWord = "</w>";

    private readonly Dictionary<string, int> vocab;
    private readonly Dictionary<(string, string), int> ranks;
    private readonly ConcurrentDictionary<string, int[]> cache = new();

    public ClipBpe(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<(string Left, string Right)> merges)
    {
        this.vocab = new Dictionary<string, int>(vocab);
        ranks = new Dictionary<(string, string), int>(merges.Count);
        for (var i = 0; i < merges.Count; i++) ranks[merges[i]] = i; // a repeated merge keeps its last rank, as Python's dict(zip(...)) does
        IdToToken = new string[this.vocab.Count == 0 ? 0 : this.vocab.Values.Max() + 1];
        foreach (var (token, id) in this.vocab)
        {
            if (id < 0 || IdToToken[id] is not null)
                throw new InvalidDataException($"vocabulary ids must be non-negative and distinct (token '{token}' has id {id})");
            IdToToken[id] = token;
        }
    }

    /// <summary>Token string of each id (byte-mapped symbols, with <c>&lt;/w&gt;</c> where a word ends).</summary>
    public string?[] IdToToken { get; }

    public IReadOnlyDictionary<string, int> Vocabulary => vocab;

    public int MergeCount => ranks.Count;

    /// <summary>Ids of one pre-tokenised piece (raw text, not yet byte-mapped).</summary>
    public int[] Encode(string piece) => cache.GetOrAdd(piece, p => Merge(ByteMap(p)));

    /// <summary>Maps the UTF-8 bytes of <paramref name="text"/> through <see cref="ByteToUnicode"/>.</summary>
    public static string ByteMap(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var sb = new StringBuilder(bytes.Length);
        foreach (var b in bytes) sb.Append(ByteToUnicode[b]);
        return sb.ToString();
    }

    /// <summary>Text of a sequence of ids: tokens joined, <c>&lt;/w&gt;</c> read as a space, bytes decoded as UTF-8.</summary>
    public string Decode(IEnumerable<int> ids)
    {
        var text = string.Concat(ids.Select(id => id >= 0 && id < IdToToken.Length ? IdToToken[id] : null));
        var bytes = new List<byte>(text.Length);
        foreach (var ch in text.Replace(EndOfWord, " "))
            if (UnicodeToByte.TryGetValue(ch, out var b)) bytes.Add(b);
            else bytes.AddRange(Encoding.UTF8.GetBytes(ch.ToString()));
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private int[] Merge(string mapped)
    {
        var word = new List<string>(mapped.Length);
        foreach (var ch in mapped) word.Add(ch.ToString());
        word[^1] += EndOfWord;
        while (word.Count > 1)
        {
            var best = -1;
            (string, string) bigram = default;
            for (var i = 0; i + 1 < word.Count; i++)
                if (ranks.TryGetValue((word[i], word[i + 1]), out var r) && (best < 0 || r < best)) { best = r; bigram = (word[i], word[i + 1]); }
            if (best < 0) break;
            var merged = new List<string>(word.Count);
            for (var i = 0; i < word.Count;)
            {
                if (i + 1 < word.Count && word[i] == bigram.Item1 && word[i + 1] == bigram.Item2)
                {
                    merged.Add(bigram.Item1 + bigram.Item2);
                    i += 2;
                }
                else merged.Add(word[i++]);
            }
            word = merged;
        }
        var ids = new int[word.Count];
        for (var i = 0; i < ids.Length; i++)
            ids[i] = vocab.TryGetValue(word[i], out var id)
                ? id
                : throw new InvalidDataException($"BPE produced '{word[i]}', which is not in the vocabulary (merges and vocabulary disagree)");
        return ids;
    }

    /// <summary>GPT-2's byte → printable character table (printable Latin-1 keep their code; the rest map to 256 + n).</summary>
    public static IReadOnlyList<char> ByteToUnicode { get; } = BuildByteMap();

    private static readonly Dictionary<char, byte> UnicodeToByte =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToUnicode[b], b => (byte)b);

    /// <summary>The 256 byte symbols in <c>bytes_to_unicode()</c> dictionary order (the first 256 vocabulary ids).</summary>
    public static IReadOnlyList<char> ByteSymbolsInVocabularyOrder { get; } = BuildVocabularyOrder();

    private static bool IsPrintable(int b) => b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;

    private static char[] BuildByteMap()
    {
        var map = new char[256];
        var n = 0;
        for (var b = 0; b < 256; b++) map[b] = IsPrintable(b) ? (char)b : (char)(256 + n++);
        return map;
    }

    private static List<char> BuildVocabularyOrder()
    {
        var order = Enumerable.Range(0, 256).Where(IsPrintable).ToList();
        order.AddRange(Enumerable.Range(0, 256).Where(b => !IsPrintable(b)));
        return order.Select(b => ByteToUnicode[b]).ToList();
    }
}
