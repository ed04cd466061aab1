namespace Fusion.Workflow.Stages;

/// <summary>
/// A stage kind whose nodes take some params from a lock file kept beside their pipeline (pinned versions, digests).
/// The loader calls <see cref="Complete"/> once per node after every other setting is applied: what it sets is an
/// ordinary param, so the node's fingerprint sees exactly the pinned facts it depends on, and a worker elsewhere gets
/// them without the file.
/// </summary>
public interface ILockedParams
{
    /// <param name="canonicalParams">The node's resolved params (name → canonical JSON); the locked ones are set here.</param>
    /// <param name="pipelineFolder">The folder of the pipeline file that declares the node's stage.</param>
    /// <exception cref="FormatException">The lock file is malformed or does not fit the node; the message says why.</exception>
    void Complete(IDictionary<string, string> canonicalParams, string pipelineFolder);
}
