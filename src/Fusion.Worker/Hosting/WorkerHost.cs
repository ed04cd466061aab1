using Fusion.Artifacts.Store;
using Fusion.Worker.Distributed;
using Fusion.Worker.Documents;
using Fusion.Worker.Regression;
using Fusion.Worker.Runs;
using Fusion.Worker.Scheduling;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Fusion.Worker.Hosting;

/// <summary>
/// The hosted worker (<c>fusion worker</c>): configuration from appsettings.json (or <c>--config FILE</c>), environment
/// variables and the command line, in rising priority; console logging; SIGTERM/Ctrl-C stop it gracefully (the running
/// pipeline or node is cancelled and checkpoints within <see cref="WorkerOptions.ShutdownTimeout"/>).
/// It runs the configured schedules and, when distributed, joins the task hub as a node worker.
/// The engine supplies <see cref="IRunLauncher"/> and <see cref="IRunMetricsSource"/> (schedules) and
/// <see cref="INodeExecutor"/> (distributed), and optionally an <see cref="IArtifactStore"/> for the documents.
/// </summary>
public static class WorkerHost
{
    public static HostApplicationBuilder CreateBuilder(string[] args, string? configFile = null, bool? distributed = null)
    {
        // No file watching: settings are read once at start (a change needs a restart, as documented), and each watcher
        // holds an inotify instance, of which a Linux user has only 128.
        var configuration = new ConfigurationManager();
        configuration["hostBuilder:reloadConfigOnChange"] = "false";
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            Args = args, ContentRootPath = Directory.GetCurrentDirectory(), Configuration = configuration,
        });
        if (configFile is not null)
        {
            builder.Configuration.AddJsonFile(ConfigPath(configFile), optional: false);
            // Keep the documented priority: environment and command line override the file.
            builder.Configuration.AddEnvironmentVariables();
            builder.Configuration.AddCommandLine(args);
        }
        builder.Services.AddFusionWorker(Bind(builder.Configuration, distributed));
        return builder;
    }

    /// <summary>The worker options from the same sources as the host (appsettings.json, <paramref name="configFile"/>,
    /// environment, <paramref name="args"/>), for commands that do not run the host (e.g. <c>fusion baseline check</c>).</summary>
    public static WorkerOptions LoadOptions(string[] args, string? configFile = null)
    {
        var config = new ConfigurationBuilder().AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true);
        if (configFile is not null) config.AddJsonFile(ConfigPath(configFile), optional: false);
        return Bind(config.AddEnvironmentVariables().AddCommandLine(args).Build(), distributed: null);
    }

    private static string ConfigPath(string file)
    {
        var path = Path.GetFullPath(file);
        return File.Exists(path) ? path : throw new FileNotFoundException($"worker configuration '{path}' not found", path);
    }

    private static WorkerOptions Bind(IConfiguration configuration, bool? distributed)
    {
        var options = configuration.GetSection(WorkerOptions.Section).Get<WorkerOptions>() ?? new WorkerOptions();
        if (distributed is { } d) options.Distributed.Enabled = d;
        return options;
    }

    /// <summary>Registers the worker's services for <paramref name="options"/>; validates schedules and hub settings now.</summary>
    public static IServiceCollection AddFusionWorker(this IServiceCollection services, WorkerOptions options)
    {
        var schedules = options.Schedules.Select(kv => new Schedule(kv.Key, kv.Value)).ToList();
        if (options.Distributed.Enabled) options.Distributed.Validate();
        options.Distributed.WorkerId ??= options.WorkerId;

        services.Configure<HostOptions>(h => h.ShutdownTimeout = options.ShutdownTimeout);
        services.AddSingleton(options);
        services.AddSingleton(options.Regression);
        services.AddSingleton(options.Distributed);
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IDocumentStore>(sp => sp.GetService<IArtifactStore>() is { } store ? new ArtifactStoreDocuments(store)
            : options.Documents is { Length: > 0 } folder ? new FileDocumentStore(folder)
            : throw new InvalidOperationException("the worker needs a place for its documents: register an artifact store or set Worker:Documents"));
        services.TryAddSingleton<IRunStatusWriter>(sp => new DocumentRunStatusWriter(sp.GetRequiredService<IDocumentStore>()));
        services.AddSingleton(sp => new RunClaims(sp.GetRequiredService<IDocumentStore>(), options.ResolvedWorkerId));
        services.AddSingleton(sp => new RegressionReporter(sp.GetRequiredService<IDocumentStore>(), Require<IRunMetricsSource>(sp),
            sp.GetRequiredService<IRunStatusWriter>(), options.Regression));
        services.AddSingleton(sp => new WebhookNotifier(new HttpClient(), options.Regression.Webhook, sp.GetRequiredService<ILogger<WebhookNotifier>>()));
        services.AddSingleton(sp => new ScheduledRunner(sp.GetRequiredService<RunClaims>(), Require<IRunLauncher>(sp), sp.GetRequiredService<RegressionReporter>(),
            sp.GetRequiredService<IRunStatusWriter>(), sp.GetRequiredService<WebhookNotifier>(), sp.GetRequiredService<ILogger<ScheduledRunner>>()));

        if (schedules.Any(s => s.Options.Enabled))
            services.AddHostedService(sp => new ScheduleService(schedules, sp.GetRequiredService<ScheduledRunner>(),
                sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<ScheduleService>>()));
        if (options.Distributed is { Enabled: true, RunNodes: true })
            services.AddHostedService(sp => new DistributedWorkerService(options.Distributed, Require<INodeExecutor>(sp), sp.GetRequiredService<ILoggerFactory>()));
        return services;
    }

    private static T Require<T>(IServiceProvider sp) where T : notnull =>
        sp.GetService<T>() ?? throw new InvalidOperationException($"the worker needs an {typeof(T).Name} registered (the engine adapter)");
}
