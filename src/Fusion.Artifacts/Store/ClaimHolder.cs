using System.Globalization;

namespace Fusion.Artifacts.Store;

/// <summary>Who holds a claim, as the holder recorded it when it took the claim (for "waiting for …" messages).</summary>
public sealed record ClaimHolder(int ProcessId, string Host, DateTimeOffset SinceUtc)
{
    /// <summary>"pid 1234 on host x since 11:52:03 UTC" (with the date when it is not today's).</summary>
    public override string ToString()
    {
        var since = SinceUtc.UtcDateTime;
        var when = since.Date == DateTime.UtcNow.Date
            ? since.ToString("HH:mm:ss", CultureInfo.InvariantCulture)
            : since.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
        return $"pid {ProcessId} on host {Host} since {when} UTC";
    }
}
