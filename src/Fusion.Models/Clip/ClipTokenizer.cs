using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace Fusion.Models.Clip;

/// <summary>What fills the positions after the end-of-text token.</summary>
public enum ClipPadding
{
    /// <summary><c>&lt;|endoftext|&gt;</c> (49407): the HF tokenizer of openai/clip-vit-* — what U-ViT feeds CLIP.</summary>
    EndToken,
    /// <summary>0: openai's <c>clip.tokenize</c> (and SD 2.x / open_clip).</summary>
    Zero,
}

/// <summary>Which HTML-entity decoding precedes tokenisation.</summary>
public enum ClipHtmlUnescape
{
    /// <summary>None: the HF tokenizer as the reference fixture (hf77) records it — equal to HF's fast tokenizer, which has no ftfy.</summary>
    None,
    /// <summary>
    /// ftfy's <c>unescape_html="auto"</c> (decode once, per line, unless the line contains '&lt;'): what HF's slow
    /// <c>CLIPTokenizer</c> does when ftfy is installed, as in U-ViT's pinned environment (transformers 4.23.1, ftfy 6.1.1).
    /// </summary>
    Ftfy,
    /// <summary>openai <c>basic_clean</c>: <c>html.unescape(html.unescape(text))</c>.</summary>
    OpenAI,
}

/// <summary>How captions become a fixed-length id row. Truncation always keeps the end token (SOT + first L−2 + EOT).</summary>
public sealed record ClipTokenizerOptions
{
    public int ContextLength { get; init; } = 77;
    public ClipPadding Padding { get; init; } = ClipPadding.EndToken;
    public ClipHtmlUnescape Html { get; init; } = ClipHtmlUnescape.None;

    /// <summary>HF <c>CLIPTokenizer(max_length=77, truncation=True, padding="max_length")</c> for openai/clip-vit-large-patch14 (U-ViT's captions), as the fixture records it.</summary>
    public static ClipTokenizerOptions HuggingFace { get; } = new();

    /// <summary>The same with ftfy's HTML-entity step, as U-ViT's pinned environment runs it (differs only on text with entities).</summary>
    public static ClipTokenizerOptions HuggingFaceWithFtfy { get; } = new() { Html = ClipHtmlUnescape.Ftfy };

    /// <summary>openai <c>clip.tokenize(text, truncate=True)</c> (Hessel CLIP-S).</summary>
    public static ClipTokenizerOptions OpenAI { get; } = new() { Padding = ClipPadding.Zero, Html = ClipHtmlUnescape.OpenAI };
}

/// <summary>
/// The CLIP BPE tokenizer (openai <c>SimpleTokenizer</c> / HF <c>CLIPTokenizer</c>): clean (<see cref="ClipTextCleaner"/>),
/// pre-tokenise with CLIP's pattern <c>&lt;|startoftext|&gt;|&lt;|endoftext|&gt;|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+</c>
/// (scanned by code point, so letters outside the BMP count as letters, as in Python), byte-level BPE per piece,
/// then SOT + ids + EOT, truncated and padded to the context length.
/// </summary>
public sealed class ClipTokenizer
{
    public const string StartText = "<|startoftext|>", EndText = "<|endoftext|>";
    /// <summary>Merges used from the openai file: 49152 − 256 − 2 (file lines 2 .. 48,895).</summary>
    public const int OpenAIMergeCount = 49152 - 256 - 2;

    private static readonly string[] Contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"];

    public ClipTokenizer(ClipBpe bpe)
    {
        Bpe = bpe;
        StartToken = bpe.Vocabulary.TryGetValue(StartText, out var s) ? s : throw new InvalidDataException($"vocabulary lacks {StartText}");
        EndToken = bpe.Vocabulary.TryGetValue(EndText, out var e) ? e : throw new InvalidDataException($"vocabulary lacks {EndText}");
    }

    public ClipBpe Bpe { get; }
    public int StartToken { get; }
    public int EndToken { get; }
    public int VocabularySize => Bpe.IdToToken.Length;

    /// <summary>
    /// From openai's <c>bpe_simple_vocab_16e6.txt.gz</c> (gzip or plain text): header line, then merges; only the first
    /// <see cref="OpenAIMergeCount"/> are used. Vocabulary: 256 byte symbols, the same with <c>&lt;/w&gt;</c>, one per
    /// merge, then the two special tokens (49,408 in all).
    /// </summary>
    public static ClipTokenizer FromOpenAIMerges(string path)
    {
        var lines = ReadLines(path);
        if (lines.Count < OpenAIMergeCount + 1)
            throw new InvalidDataException($"{path}: {lines.Count} lines, expected at least {OpenAIMergeCount + 1} (header + merges)");
        var merges = lines.Skip(1).Take(OpenAIMergeCount).Select((l, i) => ParseMerge(l, path, i + 2)).ToList();
        var tokens = new List<string>(ClipBpe.ByteSymbolsInVocabularyOrder.Select(c => c.ToString()));
        tokens.AddRange(ClipBpe.ByteSymbolsInVocabularyOrder.Select(c => c + ClipBpe.EndOfWord));
        tokens.AddRange(merges.Select(m => m.Left + m.Right));
        tokens.Add(StartText);
        tokens.Add(EndText);
        var vocab = new Dictionary<string, int>();
        for (var i = 0; i < tokens.Count; i++) vocab[tokens[i]] = i; // later duplicates win, as in Python's dict(zip(...))
        return new ClipTokenizer(new ClipBpe(vocab, merges));
    }

    /// <summary>From the HF files <c>vocab.json</c> (token → id) and <c>merges.txt</c> (optional <c>#version</c> header, one merge a line).</summary>
    public static ClipTokenizer FromHuggingFaceFiles(string vocabJsonPath, string mergesPath)
    {
        Dictionary<string, int> vocab;
        try
        {
            vocab = JsonSerializer.Deserialize<Dictionary<string, int>>(File.ReadAllText(vocabJsonPath))
                    ?? throw new InvalidDataException($"{vocabJsonPath}: empty vocabulary");
        }
        catch (JsonException e) { throw new InvalidDataException($"{vocabJsonPath}: not a token → id JSON object: {e.Message}", e); }
        var lines = ReadLines(mergesPath);
        var merges = new List<(string, string)>(lines.Count);
        for (var i = 0; i < lines.Count; i++)
        {
            if (i == 0 && lines[i].StartsWith("#version", StringComparison.Ordinal)) continue;
            if (lines[i].Length == 0) continue;
            merges.Add(ParseMerge(lines[i], mergesPath, i + 1));
        }
        return new ClipTokenizer(new ClipBpe(vocab, merges));
    }

    /// <summary>Content ids of <paramref name="text"/> (cleaned, lower-cased, BPE), without SOT/EOT, untruncated.</summary>
    public int[] Encode(string text, ClipHtmlUnescape html = ClipHtmlUnescape.None)
    {
        var ids = new List<int>();
        foreach (var piece in PreTokenize(ClipTextCleaner.Clean(text, html)))
            if (piece == StartText) ids.Add(StartToken);
            else if (piece == EndText) ids.Add(EndToken);
            else ids.AddRange(Bpe.Encode(piece));
        return ids.ToArray();
    }

    /// <summary>One row of <see cref="ClipTokenizerOptions.ContextLength"/> ids: SOT + first L−2 content ids + EOT, then padding.</summary>
    public long[] Tokenize(string text, ClipTokenizerOptions? options = null)
    {
        options ??= ClipTokenizerOptions.HuggingFace;
        if (options.ContextLength < 2) throw new ArgumentOutOfRangeException(nameof(options), $"context length {options.ContextLength} < 2");
        var content = Encode(text, options.Html);
        var row = new long[options.ContextLength];
        Array.Fill(row, options.Padding == ClipPadding.EndToken ? EndToken : 0L);
        row[0] = StartToken;
        var n = Math.Min(content.Length, options.ContextLength - 2);
        for (var i = 0; i < n; i++) row[i + 1] = content[i];
        row[n + 1] = EndToken;
        return row;
    }

    /// <summary>An int64 tensor [B, ContextLength] of <see cref="Tokenize(string, ClipTokenizerOptions?)"/> rows.</summary>
    public Tensor Tokenize(IReadOnlyList<string> texts, ClipTokenizerOptions? options = null)
    {
        options ??= ClipTokenizerOptions.HuggingFace;
        var flat = new long[texts.Count * options.ContextLength];
        for (var b = 0; b < texts.Count; b++) Tokenize(texts[b], options).CopyTo(flat, b * options.ContextLength);
        return tensor(flat, [texts.Count, options.ContextLength], ScalarType.Int64);
    }

    /// <summary>Text of ids, skipping SOT, EOT and padding zeros after the first EOT.</summary>
    public string Decode(IEnumerable<long> ids) =>
        Bpe.Decode(ids.Select(i => (int)i).SkipWhile(i => i == StartToken).TakeWhile(i => i != EndToken)).TrimEnd();

    /// <summary>CLIP's pre-tokenisation (Python <c>regex.findall</c> of the pattern above) of already cleaned text.</summary>
    public static List<string> PreTokenize(string text)
    {
        var pieces = new List<string>();
        var i = 0;
        while (i < text.Length)
        {
            if (Special(text, i) is { } special) { pieces.Add(special); i += special.Length; continue; }
            if (text[i] == '\'' && Contractions.FirstOrDefault(c => string.Compare(text, i, c, 0, c.Length, StringComparison.OrdinalIgnoreCase) == 0) is { } contraction)
            {
                pieces.Add(text.Substring(i, contraction.Length));
                i += contraction.Length;
                continue;
            }
            var rune = Rune.GetRuneAt(text, i);
            var kind = Kind(rune);
            if (kind == CharKind.Space) { i += rune.Utf16SequenceLength; continue; }
            var start = i;
            i += rune.Utf16SequenceLength;
            if (kind == CharKind.Letter)
                while (i < text.Length && Kind(Rune.GetRuneAt(text, i)) == CharKind.Letter) i += Rune.GetRuneAt(text, i).Utf16SequenceLength;
            else if (kind == CharKind.Other)
                while (i < text.Length && Kind(Rune.GetRuneAt(text, i)) == CharKind.Other) i += Rune.GetRuneAt(text, i).Utf16SequenceLength;
            pieces.Add(text[start..i]);
        }
        return pieces;
    }

    private static string? Special(string text, int i) =>
        text[i] != '<' ? null
        : string.Compare(text, i, StartText, 0, StartText.Length, StringComparison.OrdinalIgnoreCase) == 0 ? text.Substring(i, StartText.Length).ToLowerInvariant()
        : string.Compare(text, i, EndText, 0, EndText.Length, StringComparison.OrdinalIgnoreCase) == 0 ? text.Substring(i, EndText.Length).ToLowerInvariant()
        : null;

    private enum CharKind { Letter, Number, Space, Other }

    private static CharKind Kind(Rune r)
    {
        if (Rune.IsWhiteSpace(r)) return CharKind.Space;
        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharKind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharKind.Number,
            _ => CharKind.Other,
        };
    }

    private static (string Left, string Right) ParseMerge(string line, string path, int lineNumber)
    {
        var parts = line.Split(' ');
        return parts.Length == 2 && parts[0].Length > 0 && parts[1].Length > 0
            ? (parts[0], parts[1])
            : throw new InvalidDataException($"{path}:{lineNumber}: expected a merge 'left right', got '{line}'");
    }

    private static List<string> ReadLines(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"tokenizer file not found: {path}", path);
        using var file = File.OpenRead(path);
        var gz = file.ReadByte() == 0x1f && file.ReadByte() == 0x8b;
        file.Position = 0;
        using Stream stream = gz ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var reader = new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: true));
        // Python's str.strip().split("\n"): surrounding whitespace goes, inner lines are kept as they are.
        return reader.ReadToEnd().Trim().Split('\n').ToList();
    }
}
