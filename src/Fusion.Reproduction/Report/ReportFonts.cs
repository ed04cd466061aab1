using SkiaSharp;

namespace Fusion.Reproduction.Report;

/// <summary>
/// The one typeface of charts and sample grids: DejaVu Sans from its file (Debian's fonts-dejavu-core, which
/// infra/setup.sh installs). Loaded by path because the dependency-free Skia build has no fontconfig to find it by name;
/// registered with ScottPlot under <see cref="Family"/> so the charts use the same file.
/// </summary>
internal static class ReportFonts
{
    public const string Family = "DejaVu Sans";
    private static readonly string[] Folders = ["/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF"];

    public static readonly SKTypeface Sans;
    public static readonly SKTypeface Bold;

    // An explicit static constructor runs before any member is used, ChartFamily included, so ScottPlot knows the files.
    static ReportFonts()
    {
        Sans = Load("DejaVuSans.ttf", bold: false);
        Bold = Load("DejaVuSans-Bold.ttf", bold: true);
    }

    /// <summary>The family name for ScottPlot's styles; reading it registers the files.</summary>
    public static string ChartFamily => Family;

    private static SKTypeface Load(string file, bool bold)
    {
        foreach (var folder in Folders)
        {
            var path = Path.Combine(folder, file);
            if (!File.Exists(path) || SKTypeface.FromFile(path) is not { } typeface) continue;
            ScottPlot.Fonts.AddFontFile(Family, path, bold, italic: false);
            return typeface;
        }
        // Without the file Skia's default typeface draws no glyphs on a font-less machine: labels go missing, the
        // images and numbers stay right (setup.sh and the worker image install the fonts).
        return SKTypeface.Default;
    }
}
