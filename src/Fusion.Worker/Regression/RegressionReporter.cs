using System.Text;
using Fusion.Worker.Documents;
using Fusion.Worker.Runs;

namespace Fusion.Worker.Regression;

/// <summary>
/// Checks a finished run against a baseline and records the outcome: report documents
/// <c>worker/runs/&lt;run&gt;/regression.json|.md</c> (and <see cref="RegressionOptions.ReportDirectory"/> when set), and the
/// run's status ("passed", "regressed" or "incomparable").
/// </summary>
public sealed class RegressionReporter(IDocumentStore documents, IRunMetricsSource metrics, IRunStatusWriter status, RegressionOptions options)
{
    public async Task<RegressionReport> CheckAsync(string runId, string baselineName, CancellationToken ct)
    {
        var baseline = await new Baselines(documents).GetAsync(baselineName, ct);
        var current = await metrics.GetMetricsAsync(runId, ct);
        var report = RegressionCheck.Compare(runId, current, baselineName, baseline, options, runPipeline: await metrics.GetPipelineAsync(runId, ct));
        var json = WorkerJson.Serialize(report);
        var markdown = Encoding.UTF8.GetBytes(report.ToMarkdown());
        await documents.PutAsync($"worker/runs/{runId}/regression.json", json, ct);
        await documents.PutAsync($"worker/runs/{runId}/regression.md", markdown, ct);
        if (!string.IsNullOrWhiteSpace(options.ReportDirectory))
        {
            Directory.CreateDirectory(options.ReportDirectory);
            await File.WriteAllBytesAsync(Path.Combine(options.ReportDirectory, $"{runId}.regression.json"), json, ct);
            await File.WriteAllBytesAsync(Path.Combine(options.ReportDirectory, $"{runId}.regression.md"), markdown, ct);
        }
        await status.SetStatusAsync(runId, report.Verdict.ToString().ToLowerInvariant(), report.Summary, ct);
        return report;
    }
}

/// <summary>The run status as a document <c>worker/runs/&lt;run&gt;/status.json</c> (until the engine's ledger takes it).</summary>
public sealed class DocumentRunStatusWriter(IDocumentStore documents) : IRunStatusWriter
{
    public sealed record RunStatus(string RunId, string Status, string Detail, DateTimeOffset UpdatedUtc);

    public Task SetStatusAsync(string runId, string status, string detail, CancellationToken ct) =>
        documents.PutAsync($"worker/runs/{runId}/status.json", WorkerJson.Serialize(new RunStatus(runId, status, detail, DateTimeOffset.UtcNow)), ct);

    public Task<RunStatus?> GetAsync(string runId, CancellationToken ct) => documents.GetAsync<RunStatus>($"worker/runs/{runId}/status.json", ct);
}
