using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Fusion.Models.Clip;

/// <summary>
/// The text normalisation in front of CLIP's BPE: a subset of <c>ftfy.fix_text</c> (the fixes that matter for
/// caption text; no mojibake repair), optional HTML unescaping (openai applies <c>html.unescape</c> twice, the HF
/// tokenizer does not), whitespace collapse, strip and Python's <c>str.lower()</c>. ftfy's own HTML step is optional
/// (<see cref="ClipHtmlUnescape.Ftfy"/>).
/// </summary>
public static partial class ClipTextCleaner
{
    /// <summary>Full clean as the references order it: (ftfy's HTML step) → ftfy subset → (html unescape ×2) → whitespace → lower.</summary>
    public static string Clean(string text, ClipHtmlUnescape html)
    {
        var s = FixText(html == ClipHtmlUnescape.Ftfy ? FtfyUnescapeHtml(text) : text);
        if (html == ClipHtmlUnescape.OpenAI) s = HtmlUnescape(HtmlUnescape(s));
        return PythonLower(CollapseWhitespace(s));
    }

    /// <summary>
    /// ftfy 6.1's <c>unescape_html="auto"</c>, line by line: lines containing '&lt;' are left alone (they may be HTML);
    /// elsewhere each <c>&amp;name;</c> / <c>&amp;#n;</c> reference is decoded once (an upper-cased name such as
    /// <c>&amp;EACUTE;</c> as its upper-cased character), unknown ones stay.
    /// </summary>
    public static string FtfyUnescapeHtml(string text) =>
        !text.Contains('&') ? text : string.Join('\n', text.Split('\n').Select(line => line.Contains('<') ? line : FtfyEntity().Replace(line, m =>
        {
            var entity = m.Value;
            if (entity[1] == '#')
            {
                var decoded = ReplaceCharRef(entity[1..]);
                return decoded.Contains(';') ? entity : decoded;
            }
            var name = entity[1..];
            if (DecodeNamed(name) is { } named) return named;
            var lower = name.ToLowerInvariant();
            return name == name.ToUpperInvariant() && DecodeNamed(lower) is { } upper ? upper.ToUpperInvariant() : entity;
        })));

    /// <summary>
    /// The ftfy 6.1 default fixes that do not need encoding detection, in ftfy's order: terminal escapes, C1 controls
    /// read as windows-1252, Latin ligatures, full/half-width forms, curly quotes, line breaks, control characters,
    /// NFC. ftfy's <c>unescape_html="auto"</c> step is left to <see cref="HtmlUnescape"/> (the HF reference fixture is
    /// produced without it); mojibake repair (<c>fix_encoding</c>) is not ported.
    /// </summary>
    public static string FixText(string text)
    {
        if (text.Length == 0) return text;
        var s = TerminalEscape().Replace(text, "");
        var sb = new StringBuilder(s.Length);
        foreach (var r in s.EnumerateRunes())
        {
            var c = r.Value;
            if (c is >= 0x80 and <= 0x9F) c = Windows1252[c - 0x80];           // fix_c1_controls
            switch (c)
            {
                case 0x132: sb.Append("IJ"); continue;                        // fix_latin_ligatures
                case 0x133: sb.Append("ij"); continue;
                case 0xFB00: sb.Append("ff"); continue;
                case 0xFB01: sb.Append("fi"); continue;
                case 0xFB02: sb.Append("fl"); continue;
                case 0xFB03: sb.Append("ffi"); continue;
                case 0xFB04: sb.Append("ffl"); continue;
                case 0xFB05: sb.Append("ſt"); continue;
                case 0xFB06: sb.Append("st"); continue;
                case 0x3000: sb.Append(' '); continue;                        // fix_character_width
                case >= 0xFF01 and < 0xFFF0:
                    var ch = ((char)c).ToString();
                    sb.Append(ch.Normalize(NormalizationForm.FormKC));
                    continue;
                case 0x2BC or (>= 0x2018 and <= 0x201B): sb.Append('\''); continue; // uncurl_quotes
                case >= 0x201C and <= 0x201F: sb.Append('"'); continue;
                case 0x2028 or 0x2029 or 0x85: sb.Append('\n'); continue;     // fix_line_breaks
            }
            if (IsRemovedControl(c)) continue;                                 // remove_control_chars
            sb.Append(char.ConvertFromUtf32(c));
        }
        s = sb.ToString().Replace("\r\n", "\n").Replace('\r', '\n');
        return s.Normalize(NormalizationForm.FormC);
    }

    /// <summary>Python's <c>re.sub(r"\s+", " ", s).strip()</c> (Python's \s also covers U+001C..U+001F).</summary>
    public static string CollapseWhitespace(string text) => Whitespace().Replace(text, " ").Trim(' ');

    /// <summary>Python's <c>str.lower()</c>: full case mapping (İ → i̇) and the final-sigma rule, else invariant lower case.</summary>
    public static string PythonLower(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (var i = 0; i < text.Length;)
        {
            var r = Rune.GetRuneAt(text, i);
            if (r.Value == 0x130) sb.Append("i\u0307");
            else if (r.Value == 0x3A3) sb.Append(IsFinalSigma(text, i) ? 'ς' : 'σ');
            else sb.Append(Rune.ToLowerInvariant(r).ToString());
            i += r.Utf16SequenceLength;
        }
        return sb.ToString();
    }

    /// <summary>
    /// Python's <c>html.unescape</c>: numeric references (semicolon optional, invalid code points replaced as the HTML5
    /// spec says) and named references, including the legacy names that may omit the semicolon.
    /// </summary>
    public static string HtmlUnescape(string text) =>
        !text.Contains('&') ? text : CharRef().Replace(text, m => ReplaceCharRef(m.Groups[1].Value));

    private static string ReplaceCharRef(string s)
    {
        if (s[0] == '#')
        {
            var hex = s.Length > 1 && (s[1] == 'x' || s[1] == 'X');
            var digits = s[(hex ? 2 : 1)..].TrimEnd(';').TrimStart('0');
            if (digits.Length == 0) digits = "0";
            var ok = hex
                ? long.TryParse(digits.Length > 8 ? "FFFFFFFF" : digits, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var n)
                : long.TryParse(digits.Length > 10 ? "9999999999" : digits, NumberStyles.None, CultureInfo.InvariantCulture, out n);
            if (!ok) return "&" + s;
            if (n is >= 0x80 and <= 0x9F) return char.ConvertFromUtf32(Windows1252[n - 0x80]);
            if (n is 0 or (>= 0xD800 and <= 0xDFFF) or > 0x10FFFF) return "\uFFFD";
            if (n is (>= 0x1 and <= 0x8) or (>= 0xE and <= 0x1F) or (>= 0x7F and <= 0x9F) or (>= 0xFDD0 and <= 0xFDEF)
                or 0xB || (n & 0xFFFE) == 0xFFFE) return "";
            return char.ConvertFromUtf32((int)n);
        }
        if (s.EndsWith(';') && DecodeNamed(s) is { } full) return full;
        // Legacy names may appear without ';' — Python takes the longest known prefix.
        for (var x = Math.Min(s.Length, 6); x > 1; x--)
            if (LegacyNames.Contains(s[..x]) && DecodeNamed(s[..x] + ";") is { } prefix) return prefix + s[x..];
        return "&" + s;
    }

    private static string? DecodeNamed(string nameWithSemicolon)
    {
        var entity = "&" + nameWithSemicolon;
        var decoded = WebUtility.HtmlDecode(entity);
        return decoded == entity ? null : decoded;
    }

    private static bool IsFinalSigma(string s, int i)
    {
        // Final_Sigma: preceded by a cased letter (skipping case-ignorables) and not followed by one.
        static bool Cased(Rune r) => Rune.IsUpper(r) || Rune.IsLower(r) || Rune.GetUnicodeCategory(r) == UnicodeCategory.TitlecaseLetter;
        static bool Ignorable(Rune r) => Rune.GetUnicodeCategory(r) is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.Format or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol || r.Value is '\'' or '.' or ':' or 0xB7 or 0x2019;
        var before = false;
        for (var j = i; j > 0;)
        {
            var ok = Rune.DecodeLastFromUtf16(s.AsSpan(0, j), out var r, out var len) == System.Buffers.OperationStatus.Done;
            if (!ok) break;
            j -= len;
            if (Ignorable(r)) continue;
            before = Cased(r);
            break;
        }
        if (!before) return false;
        for (var j = i + 1; j < s.Length;)
        {
            var r = Rune.GetRuneAt(s, j);
            j += r.Utf16SequenceLength;
            if (Ignorable(r)) continue;
            return !Cased(r);
        }
        return true;
    }

    private static bool IsRemovedControl(int c) =>
        c is (>= 0x00 and < 0x09) or 0x0B or (>= 0x0E and < 0x20) or 0x7F or (>= 0x206A and < 0x2070) or 0xFEFF
            or (>= 0xFFF9 and < 0xFFFD) or (>= 0x1D173 and < 0x1D17B) or (>= 0xE0000 and < 0xE0080);

    // Bytes 0x80..0x9F as windows-1252 decodes them; the five undefined bytes stay themselves (ftfy's "sloppy" codec).
    private static readonly int[] Windows1252 =
    [
        0x20AC, 0x81, 0x201A, 0x192, 0x201E, 0x2026, 0x2020, 0x2021, 0x2C6, 0x2030, 0x160, 0x2039, 0x152, 0x8D, 0x17D, 0x8F,
        0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014, 0x2DC, 0x2122, 0x161, 0x203A, 0x153, 0x9D, 0x17E, 0x178,
    ];

    // HTML5 named references that are recognised without a trailing semicolon (the Latin-1 set and a few others).
    private static readonly HashSet<string> LegacyNames =
    [
        "AElig", "AMP", "Aacute", "Acirc", "Agrave", "Aring", "Atilde", "Auml", "COPY", "Ccedil", "ETH", "Eacute", "Ecirc",
        "Egrave", "Euml", "GT", "Iacute", "Icirc", "Igrave", "Iuml", "LT", "Ntilde", "Oacute", "Ocirc", "Ograve", "Oslash",
        "Otilde", "Ouml", "QUOT", "REG", "THORN", "Uacute", "Ucirc", "Ugrave", "Uuml", "Yacute", "aacute", "acirc", "acute",
        "aelig", "agrave", "amp", "aring", "atilde", "auml", "brvbar", "ccedil", "cedil", "cent", "copy", "curren", "deg",
        "divide", "eacute", "ecirc", "egrave", "eth", "euml", "frac12", "frac14", "frac34", "gt", "iacute", "icirc", "iexcl",
        "igrave", "iquest", "iuml", "laquo", "lt", "macr", "micro", "middot", "nbsp", "not", "ntilde", "oacute", "ocirc",
        "ograve", "ordf", "ordm", "oslash", "otilde", "ouml", "para", "plusmn", "pound", "quot", "raquo", "reg", "sect", "shy",
        "sup1", "sup2", "sup3", "szlig", "thorn", "times", "uacute", "ucirc", "ugrave", "uml", "uuml", "yacute", "yen", "yuml",
    ];

    [GeneratedRegex("&#?[0-9A-Za-z]{1,24};")]
    private static partial Regex FtfyEntity();

    [GeneratedRegex(@"[\s\x1c-\x1f]+")]
    private static partial Regex Whitespace();

    [GeneratedRegex(@"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")]
    private static partial Regex CharRef();

    // ESC [ parameters final-byte (ftfy's remove_terminal_escapes pattern).
    [GeneratedRegex("\x1b\\[((?:\\d|;)*)([a-zA-Z])")]
    private static partial Regex TerminalEscape();
}
