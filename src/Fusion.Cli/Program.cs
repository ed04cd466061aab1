using Fusion.Cli;

return await FusionCommand.RunAsync(args);
