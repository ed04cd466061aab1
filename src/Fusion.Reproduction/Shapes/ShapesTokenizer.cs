using System.Text.RegularExpressions;

namespace Fusion.Reproduction.Shapes;

/// <summary>
/// Word-level tokenizer for the shapes CLIP. The shapes captions use a few dozen words, so the tiny CLIP gets a word
/// vocabulary built from its training captions instead of CLIP's 49,408 BPE tokens; the conventions are CLIP's
/// (HF, as U-ViT uses it): start token, words, end token, padded with the end token to <see cref="ContextLength"/>,
/// truncated keeping the end token. Start and end are the two largest ids, so CLIP's pooling at argmax(id) finds the
/// end token exactly as with the BPE vocabulary.
/// </summary>
public sealed partial class ShapesTokenizer
{
    [GeneratedRegex(@"[a-z0-9]+|[^\sa-z0-9]")] private static partial Regex Words();

    private readonly Dictionary<string, int> ids;

    public ShapesTokenizer(IReadOnlyList<string> vocabulary, int contextLength)
    {
        if (contextLength < 3) throw new ArgumentOutOfRangeException(nameof(contextLength), contextLength, "context length must be at least 3 (start, a word, end)");
        if (vocabulary.Distinct().Count() != vocabulary.Count) throw new ArgumentException("vocabulary words must be unique");
        Vocabulary = vocabulary;
        ContextLength = contextLength;
        ids = vocabulary.Select((w, i) => (w, i)).ToDictionary(p => p.w, p => p.i);
    }

    /// <summary>Words, in id order; <see cref="UnknownId"/>, <see cref="StartId"/> and <see cref="EndId"/> follow them.</summary>
    public IReadOnlyList<string> Vocabulary { get; }
    public int ContextLength { get; }
    public int UnknownId => Vocabulary.Count;
    public int StartId => Vocabulary.Count + 1;
    public int EndId => Vocabulary.Count + 2;
    public int VocabSize => Vocabulary.Count + 3;

    /// <summary>The sorted distinct words of <paramref name="captions"/>.</summary>
    public static ShapesTokenizer Fit(IEnumerable<string> captions, int contextLength) =>
        new(captions.SelectMany(Split).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList(), contextLength);

    public static IEnumerable<string> Split(string text) => Words().Matches(text.ToLowerInvariant()).Select(m => m.Value);

    /// <summary>Token ids of one caption, exactly <see cref="ContextLength"/> long.</summary>
    public long[] Encode(string text)
    {
        var result = new long[ContextLength];
        Array.Fill(result, EndId);
        result[0] = StartId;
        var i = 1;
        foreach (var w in Split(text))
        {
            if (i == ContextLength - 1) break;   // keep the last slot for the end token
            result[i++] = ids.GetValueOrDefault(w, UnknownId);
        }
        return result;
    }

    /// <summary>Ids of many captions as one row-major [N, ContextLength] array.</summary>
    public long[] EncodeBatch(IReadOnlyList<string> texts)
    {
        var all = new long[texts.Count * ContextLength];
        for (var i = 0; i < texts.Count; i++) Encode(texts[i]).CopyTo(all, i * ContextLength);
        return all;
    }
}
