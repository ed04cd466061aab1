using Azure;
using Azure.Storage.Blobs.Specialized;

namespace Fusion.Artifacts.Blob;

/// <summary>
/// A held node claim: a lease on the fingerprint's claim blob, renewed in the background every third of its duration.
/// If the holder dies, renewals stop and the lease expires, so another runner takes over. <see cref="Lost"/> fires when
/// renewal fails for good (the lease expired or was broken): the holder should stop writing.
/// </summary>
public sealed class BlobClaim : IAsyncDisposable
{
    private readonly BlobLeaseClient _lease;
    private readonly TimeSpan _duration;
    private readonly CancellationTokenSource _stop = new();
    private readonly CancellationTokenSource _lost = new();
    private readonly Task _renewal;
    private int _disposed;

    internal BlobClaim(string fingerprint, BlobLeaseClient lease, TimeSpan duration)
    {
        Fingerprint = fingerprint;
        _lease = lease;
        _duration = duration;
        _renewal = Task.Run(RenewLoopAsync);
    }

    public string Fingerprint { get; }

    /// <summary>Cancelled when the lease could not be kept.</summary>
    public CancellationToken Lost => _lost.Token;

    private async Task RenewLoopAsync()
    {
        var lastRenewed = DateTime.UtcNow;
        var period = _duration / 3;
        while (!_stop.IsCancellationRequested)
        {
            try { await Task.Delay(period, _stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            try
            {
                using var attempt = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                attempt.CancelAfter(period);
                await _lease.RenewAsync(cancellationToken: attempt.Token).ConfigureAwait(false);
                lastRenewed = DateTime.UtcNow;
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested) { return; }
            catch (RequestFailedException e) when (e.Status is 409 or 412 or 404)
            {
                await _lost.CancelAsync().ConfigureAwait(false); // expired and taken, or broken: it is gone
                return;
            }
            catch (Exception) when (DateTime.UtcNow - lastRenewed < _duration - period / 2)
            {
                // transient: try again next period while the lease may still be alive
            }
            catch (Exception)
            {
                await _lost.CancelAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>Stops renewing and releases the lease (best effort: an unreleased lease simply expires).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        await _renewal.ConfigureAwait(false);
        if (!_lost.IsCancellationRequested)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await _lease.ReleaseAsync(cancellationToken: timeout.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is RequestFailedException or OperationCanceledException or HttpRequestException or AggregateException) { }
        }
        _stop.Dispose();
        _lost.Dispose();
    }
}
