using Fusion.Datasets.Download;

namespace Fusion.Reproduction.Weights;

/// <summary>A pretrained file that is not the one the weights lock pins: names the file, its source and both digests.</summary>
public sealed class WeightsMismatchException(LockedFile entry, string source, DigestMismatchException mismatch)
    : DownloadException(DigestMismatchException.Describe($"{entry.Key} from {source} does not match {WeightsLock.FileName}",
        mismatch.ExpectedSha256, mismatch.ActualSha256, mismatch.ExpectedSize, mismatch.ActualSize), mismatch)
{
    public LockedFile Entry => entry;

    public const string Hint = "the lock pins another file: if the source changed on purpose, set the entry's revision, size and sha256 to null, "
        + "run again to pin what it serves now, and commit " + WeightsLock.FileName + "; to use a file of your own, set allow_unpinned: true on the stage";
}
