using Appliance.Core.Engine;
using Appliance.Core.Features;

namespace Appliance.Core.Training;

/// <summary>
/// Everything a training run continues from: the sparse table, the dense layers with their
/// optimizer state, and what has been exported (so a later run can export a delta of the right
/// base). Saved as <see cref="TrainerCheckpoint"/>.
/// </summary>
internal sealed class TrainerState
{
    public const int Slots = CriteoSample.SparseCount;
    public const int DenseWidth = CriteoSample.DenseCount;

    public TrainerState(HashScheme hash, int embeddingDim, EmbeddingTable table, IReadOnlyList<DenseLayer> layers)
    {
        Hash = hash;
        EmbeddingDim = embeddingDim;
        Table = table;
        Layers = layers;
    }

    public HashScheme Hash { get; }

    public int EmbeddingDim { get; }

    public EmbeddingTable Table { get; }

    public IReadOnlyList<DenseLayer> Layers { get; }

    public int InputWidth => (Slots * EmbeddingDim) + DenseWidth;

    /// <summary>Adam's step count (shared by all layers and threads).</summary>
    public long AdamStep;

    /// <summary>Held while a thread applies its batch's update to the dense layers.</summary>
    public Lock DenseUpdateLock { get; } = new();

    public int EpochsTrained { get; set; }

    /// <summary>Id of the last exported base (0 before the first export).</summary>
    public ulong BaseId { get; set; }

    /// <summary>Id of the last export, base or patch.</summary>
    public ulong LastId { get; set; }

    /// <summary>A new network: 26 × dim + 13 inputs, ReLU hidden layers, a 2-way softmax.</summary>
    public static TrainerState Create(HashScheme hash, int embeddingDim, IReadOnlyList<int> hidden, int seed)
    {
        var random = new Random(seed);
        var layers = new List<DenseLayer>();
        var inputs = (Slots * embeddingDim) + DenseWidth;
        foreach (var width in hidden.Append(2))
        {
            layers.Add(new DenseLayer(inputs, width, random));
            inputs = width;
        }

        return new TrainerState(hash, embeddingDim, new EmbeddingTable(embeddingDim, (ulong)seed * 0x9E3779B97F4A7C15UL), layers);
    }

    /// <summary>The dense network as the engine runs it (ONNX is written from this).</summary>
    public DenseNetwork ToNetwork() =>
        new(Slots, EmbeddingDim, DenseWidth, Layers.Select((l, i) => new MlpLayer(
            l.Inputs, l.Outputs, (float[])l.Weights.Clone(), (float[])l.Bias.Clone(), i == Layers.Count - 1 ? MlpLayer.Softmax : MlpLayer.Relu)).ToList());
}
