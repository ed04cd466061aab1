namespace Fusion.Artifacts.Blob;

/// <summary>
/// Blob names of a store, below its prefix. Each commit attempt uploads into its own folder (its manifest's
/// <see cref="Store.Manifest.UploadId"/>), so two committers of one fingerprint whose bytes differ never overwrite each
/// other's files; only the create-only manifest decides. Manifests without an upload id (stores written before
/// 2026-11-26) keep each file under its SHA-256 instead.
/// <code>
/// manifests/FP.json               the commit marker and file list (written last, create-only)
/// artifacts/FP/UPLOAD/NAME        a committed file (metadata sha256: its hash)
/// claims/FP                       an empty blob whose lease is the node claim
/// documents/PATH                  small documents (ledger, index, pins)
/// </code>
/// </summary>
public static class BlobLayout
{
    public const string ManifestFolder = "manifests/";
    public const string ArtifactFolder = "artifacts/";
    public const string ClaimFolder = "claims/";
    public const string DocumentFolder = "documents/";

    public static string Manifest(string fingerprint) => $"{ManifestFolder}{fingerprint}.json";
    public static string ArtifactPrefix(string fingerprint) => $"{ArtifactFolder}{fingerprint}/";
    public static string UploadPrefix(string fingerprint, string upload) => $"{ArtifactFolder}{fingerprint}/{upload}/";
    public static string File(string fingerprint, string upload, string name) => UploadPrefix(fingerprint, upload) + name;

    /// <summary>Where a committed file of <paramref name="manifest"/> lies.</summary>
    public static string FileOf(Store.Manifest manifest, Store.ArtifactFile file) => File(manifest.Fingerprint, manifest.UploadId ?? file.Sha256, file.Name);

    /// <summary>The folder holding all files of <paramref name="manifest"/>.</summary>
    public static string FilesPrefix(Store.Manifest manifest) =>
        manifest.UploadId is { } upload ? UploadPrefix(manifest.Fingerprint, upload) : ArtifactPrefix(manifest.Fingerprint);
    public static string Claim(string fingerprint) => $"{ClaimFolder}{fingerprint}";
    public static string Document(string path) => DocumentFolder + path;
}
