using System.Text;

namespace Fusion.Tests.Support;

/// <summary>
/// Python <c>repr</c> of dicts, lists, strings, numbers and True/False/None (what fixture generators write into
/// safetensors metadata with <c>str(...)</c>) rewritten as JSON; JSON passes through unchanged.
/// </summary>
public static class PythonLiteral
{
    public static string ToJson(string literal)
    {
        var json = new StringBuilder(literal.Length);
        for (var i = 0; i < literal.Length; i++)
        {
            var ch = literal[i];
            if (ch is '\'' or '"')
            {
                var end = i + 1;
                var text = new StringBuilder();
                for (; end < literal.Length && literal[end] != ch; end++)
                    text.Append(literal[end] == '\\' && end + 1 < literal.Length ? Unescape(literal[++end]) : literal[end]);
                if (end >= literal.Length) throw new FormatException($"unterminated string at {i} in {literal}");
                json.Append(System.Text.Json.JsonSerializer.Serialize(text.ToString()));
                i = end;
            }
            else if (char.IsLetter(ch))
            {
                var end = i;
                while (end < literal.Length && char.IsLetter(literal[end])) end++;
                var word = literal[i..end];
                json.Append(word switch { "True" or "true" => "true", "False" or "false" => "false", "None" or "null" => "null",
                    _ => throw new FormatException($"unexpected word '{word}' in {literal}") });
                i = end - 1;
            }
            else json.Append(ch);
        }
        return json.ToString();
    }

    private static char Unescape(char c) => c switch { 'n' => '\n', 't' => '\t', 'r' => '\r', _ => c };
}
