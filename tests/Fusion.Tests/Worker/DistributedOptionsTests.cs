using Fusion.Worker.Distributed;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fusion.Tests.Worker;

/// <summary>How a task hub is named and reached: a connection string, or an account name with an Entra ID identity.</summary>
public class DistributedOptionsTests
{
    [Fact]
    public void A_hub_is_reached_by_connection_string_or_by_account_name_and_bad_settings_name_the_key()
    {
        Assert.Equal("UseDevelopmentStorage=true", new DistributedOptions().Validate().ConnectionString);
        // An account name needs no secret: DefaultAzureCredential supplies the token when the hub is first used.
        using (TaskHub.CreateService(new DistributedOptions { AccountName = "fusionpool01", ConnectionString = "" }, NullLoggerFactory.Instance)) { }

        Assert.Contains("AccountName 'Fusion_Pool'", Assert.Throws<ArgumentException>(() => new DistributedOptions { AccountName = "Fusion_Pool" }.Validate()).Message);
        Assert.Contains("set ConnectionString or AccountName", Assert.Throws<ArgumentException>(() => new DistributedOptions { ConnectionString = " " }.Validate()).Message);
        Assert.Contains("TaskHub '9hub'", Assert.Throws<ArgumentException>(() => new DistributedOptions { TaskHub = "9hub" }.Validate()).Message);
        Assert.Contains("PartitionCount 17", Assert.Throws<ArgumentException>(() => new DistributedOptions { PartitionCount = 17 }.Validate()).Message);
    }
}
