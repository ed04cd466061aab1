using Fusion.Models.Diffusion;
using Fusion.Reproduction.Modeling;
using Fusion.Reproduction.Stages;

namespace Fusion.Tests.Reproduction;

public class ModelSpecTests
{
    private static string Temp() => Path.Combine(Path.GetTempPath(), $"spec-{Guid.NewGuid():N}.json");

    [Fact]
    public void A_model_remembers_the_schedule_and_target_it_was_trained_on()
    {
        var config = new TrainParams { Variant = FusionVariant.IntermediateCross, PatchSize = 4, EmbedDim = 64, Depth = 4, NumHeads = 4, C = 1, V = 1 }.ToConfig(3, 32, 16, 64);
        var train = new TrainConfig { BetaSchedule = BetaSchedule.Linear, BetaStart = 1e-4, BetaEnd = 0.02, Prediction = Prediction.Velocity };
        var path = Temp();
        try
        {
            ModelSpec.From(config, BatchKind.Samples, 1.0, 800, train).Save(path);
            var spec = ModelSpec.Load(path);
            Assert.Equal(Prediction.Velocity, spec.Prediction);
            Assert.Equal(BetaSchedule.Linear, spec.BetaSchedule);
            Assert.Equal(train.NoiseSchedule().AlphasCumprod, spec.NoiseSchedule().AlphasCumprod);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void A_model_json_from_before_the_choice_samples_as_the_reference_trained_it()
    {
        // model.json as earlier versions wrote it: no schedule, no prediction.
        var path = Temp();
        File.WriteAllText(path, """
            {"variant":"early-concat","textBlocks":0,"imageOnlyBlocks":0,"imageSize":32,"inChannels":3,"patchSize":4,"embedDim":64,
             "depth":4,"numHeads":4,"mlpRatio":4,"textTokens":16,"textDim":64,"crossMidBlockQueryTokens":0,"dataKind":"Samples",
             "latentScale":0.2301,"trainedSteps":12}
            """);
        try
        {
            var spec = ModelSpec.Load(path);
            Assert.Equal(Prediction.Epsilon, spec.Prediction);
            Assert.Equal(DiscreteSchedule.StableDiffusion().AlphasCumprod, spec.NoiseSchedule().AlphasCumprod);
        }
        finally { File.Delete(path); }
    }
}
