using System.IO.Compression;
using System.Text.Json;
using Fusion.Models.Clip;
using Fusion.Tests.Support;

namespace Fusion.Tests.Clip;

public class ClipTokenizerTests
{
    private const string Folder = "clip-tokenizer", MergesFile = "bpe_simple_vocab_16e6.txt.gz";

    private static readonly Lazy<ClipTokenizer> OpenAI = new(() => ClipTokenizer.FromOpenAIMerges(Fixtures.Path(Folder, MergesFile)));

    /// <summary>The published merges file, line by line (a header, then one merge per line).</summary>
    private static IEnumerable<string> MergesFileLines()
    {
        using var gz = new GZipStream(File.OpenRead(Fixtures.Path(Folder, MergesFile)), CompressionMode.Decompress);
        using var reader = new StreamReader(gz);
        while (reader.ReadLine() is { } line) yield return line;
    }

    /// <summary>Every caption of the corpus with its reference rows (however many the set holds).</summary>
    internal static List<(string Text, long[] Hf, long[] OpenAI)> Captions()
    {
        var rows = new List<(string, long[], long[])>();
        foreach (var line in File.ReadLines(Fixtures.Path(Folder, "captions.jsonl")).Where(l => !string.IsNullOrWhiteSpace(l)))
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            rows.Add((r.GetProperty("text").GetString()!,
                r.GetProperty("hf77").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
                r.GetProperty("openai77").EnumerateArray().Select(e => e.GetInt64()).ToArray()));
        }
        return rows;
    }

    [Fact]
    public void VocabularyFromThePublishedMergesFile()
    {
        var t = OpenAI.Value;
        // 256 byte symbols, the same with </w>, one entry per merge, then <|startoftext|> and <|endoftext|>.
        Assert.Equal(2 * 256 + ClipTokenizer.OpenAIMergeCount + 2, t.VocabularySize);
        Assert.Equal(ClipTokenizer.OpenAIMergeCount, t.Bpe.MergeCount);
        Assert.Equal(t.VocabularySize - 2, t.StartToken);
        Assert.Equal(t.VocabularySize - 1, t.EndToken);
        var lastMerge = MergesFileLines().Skip(ClipTokenizer.OpenAIMergeCount).First().Split(' ');   // file line 1 + count
        Assert.Equal(256 + 256 + ClipTokenizer.OpenAIMergeCount - 1, t.Bpe.Vocabulary[lastMerge[0] + lastMerge[1]]);
        Assert.Equal("!", t.Bpe.IdToToken[0]);
        Assert.Equal("Ġ</w>", t.Bpe.IdToToken[256 + 188 + 32]); // 188 printable byte symbols, then bytes 0x00.. (space is 0x20)
    }

    [Fact]
    public void PhotoOfACat()
    {
        var row = OpenAI.Value.Tokenize("a photo of a cat");
        Assert.Equal(new long[] { 49406, 320, 1125, 539, 320, 2368, 49407 }, row[..7]);
        Assert.All(row[7..], id => Assert.Equal(49407, id));
        Assert.Equal(77, row.Length);
        Assert.All(OpenAI.Value.Tokenize("a photo of a cat", ClipTokenizerOptions.OpenAI)[7..], id => Assert.Equal(0, id));
        Assert.Equal(new long[] { 49406, 49407 }, OpenAI.Value.Tokenize("")[..2]);
    }

    [Fact]
    public void AllFixtureCaptionsMatchBothConventions()
    {
        var t = OpenAI.Value;
        var failures = new List<string>();
        var captions = Captions();
        Assert.NotEmpty(captions);
        foreach (var (text, hf, oa) in captions)
        {
            // The rows' own lengths are the context lengths (77 in the HF and openai conventions the keys name).
            var gotHf = t.Tokenize(text, ClipTokenizerOptions.HuggingFace with { ContextLength = hf.Length });
            var gotOa = t.Tokenize(text, ClipTokenizerOptions.OpenAI with { ContextLength = oa.Length });
            if (!gotHf.SequenceEqual(hf)) failures.Add($"hf77 {JsonSerializer.Serialize(text)}: got [{string.Join(",", gotHf)}] want [{string.Join(",", hf)}]");
            if (!gotOa.SequenceEqual(oa)) failures.Add($"openai77 {JsonSerializer.Serialize(text)}: got [{string.Join(",", gotOa)}] want [{string.Join(",", oa)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} mismatches in {captions.Count} captions:\n" + string.Join("\n", failures.Take(10)));
    }

    [Fact]
    public void HuggingFaceFilesGiveTheSameTokenizer()
    {
        using var dir = new TempDir();
        var t = OpenAI.Value;
        // vocab.json + merges.txt as HF publishes them, derived from the same merges.
        var vocab = t.Bpe.Vocabulary.OrderBy(kv => kv.Value).ToDictionary(kv => kv.Key, kv => kv.Value);
        File.WriteAllText(dir["vocab.json"], JsonSerializer.Serialize(vocab));
        File.WriteAllLines(dir["merges.txt"], MergesFileLines().Skip(1).Take(ClipTokenizer.OpenAIMergeCount).Prepend("#version: 0.2"));
        var hf = ClipTokenizer.FromHuggingFaceFiles(dir["vocab.json"], dir["merges.txt"]);
        Assert.Equal(t.VocabularySize, hf.VocabularySize);
        foreach (var (text, ids, _) in Captions()) Assert.Equal(ids, hf.Tokenize(text, ClipTokenizerOptions.HuggingFace with { ContextLength = ids.Length }));
    }

    [Fact]
    public void TruncationKeepsTheEndTokenAndDecodeInverts()
    {
        var t = OpenAI.Value;
        var text = string.Join(' ', Enumerable.Repeat("dog", 100));
        var row = t.Tokenize(text);
        Assert.Equal(49407, row[76]);
        Assert.All(row[1..76], id => Assert.Equal(t.Bpe.Vocabulary["dog</w>"], id));
        // Like openai's decode, every piece ends a word, so punctuation comes back space-separated.
        Assert.Equal("a photo of 2 cats , isn 't it ?", t.Decode(t.Tokenize("A  photo of 2 cats, isn't it?")));
        Assert.Equal(new long[] { 49406, 49406, 320, 49407, 49407 }, t.Tokenize("<|startoftext|>a<|endoftext|>")[..5]);
    }

    [Fact]
    public void PreTokenizationFollowsTheClipPattern()
    {
        Assert.Equal(["there", "'s", "2", "0", "dogs", "!!'", "x", "🐶🍕", "日本の電車", "𝐀𝐁"],
            ClipTokenizer.PreTokenize("there's 20 dogs!!'x 🐶🍕 日本の電車 𝐀𝐁"));
        Assert.Equal(["''", "s", "'ll", "a"], ClipTokenizer.PreTokenize("''s 'lla"));
    }

    [Fact]
    public void CleaningFixesQuotesLigaturesWidthEntitiesAndCase()
    {
        Assert.Equal("the dog's \"fine\" office abc 1", ClipTextCleaner.Clean("  The dog’s “fine”\t\u000boﬃce ＡＢＣ\u3000１ ", ClipHtmlUnescape.None));
        Assert.Equal("tom &amp; jerry", ClipTextCleaner.Clean("Tom &amp; Jerry", ClipHtmlUnescape.None));
        Assert.Equal("fish & chips", ClipTextCleaner.Clean("fish &amp;amp; chips", ClipHtmlUnescape.OpenAI));
        Assert.Equal("a&b © é x € \ufffd", ClipTextCleaner.HtmlUnescape("a&ampb &copy &eacute; &#x78; &#128; &#0;"));
        Assert.Equal("&unknown; &", ClipTextCleaner.HtmlUnescape("&unknown; &"));
        // ftfy's auto mode: once, only with ';', not on a line that contains '<'; upper-cased names decode upper-cased.
        Assert.Equal("Tom & Jerry é É &amp &x; fish &amp; chips\n1 &lt; 2 <b>",
            ClipTextCleaner.FtfyUnescapeHtml("Tom &amp; Jerry &eacute; &EACUTE; &amp &x; fish &amp;amp; chips\n1 &lt; 2 <b>"));
        Assert.Equal("tom & jerry <3", ClipTextCleaner.Clean("Tom &amp; Jerry &lt;3", ClipHtmlUnescape.Ftfy));
        Assert.Equal("i\u0307stanbul ὀδυσσεύς", ClipTextCleaner.PythonLower("İSTANBUL ὈΔΥΣΣΕΎΣ"));
        Assert.Equal("café", ClipTextCleaner.FixText("cafe\u0301")); // NFC
    }
}
