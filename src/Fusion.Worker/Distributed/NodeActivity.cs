using DurableTask.Core;
using DurableTask.Core.Exceptions;
using DurableTask.Core.Serializing;
using Newtonsoft.Json.Linq;

namespace Fusion.Worker.Distributed;

/// <summary>
/// The activity that runs one node. When the worker shuts down mid-node, the executor checkpoints and stops; the
/// activity then aborts its work item, which Durable Task abandons back onto the queue for another worker instead of
/// recording a failure, so a graceful shutdown costs no retry attempt. (Written against <see cref="TaskActivity"/>
/// directly because the typed base class wraps every exception, the abort included, into a failure.)
/// </summary>
public sealed class NodeActivity(INodeExecutor executor, string workerId, CancellationToken stopping) : TaskActivity
{
    private static readonly JsonDataConverter Json = JsonDataConverter.Default;

    public override string Run(TaskContext context, string input) => RunAsync(context, input).GetAwaiter().GetResult();

    public override async Task<string> RunAsync(TaskContext context, string input)
    {
        var args = JArray.Parse(input);
        if (args.Count != 1) throw new TaskFailureException($"{nameof(NodeActivity)} expects one {nameof(NodeWorkItem)}, got {args.Count} parameters");
        var item = Json.Deserialize<NodeWorkItem>(args[0].ToString());
        NodeExecution run;
        try
        {
            run = await executor.ExecuteAsync(item, stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw new SessionAbortedException($"worker {workerId} is shutting down; node {item.NodeId} of {item.RunId} handed back");
        }
        catch (Exception e) when (e is not (OutOfMemoryException or StackOverflowException))
        {
            throw new TaskFailureException($"node {item.NodeId} of {item.RunId} failed on {workerId}: {e.Message}", e, e.ToString());
        }
        return Json.Serialize(new NodeResult(item.NodeId, item.Fingerprint, run.Output, run.Reused, workerId, run.Device));
    }
}
