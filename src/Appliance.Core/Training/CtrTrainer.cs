namespace Appliance.Core.Training;

/// <summary>Learning rates and batching of a run.</summary>
internal sealed record TrainerSettings
{
    public int Threads { get; init; } = Environment.ProcessorCount;

    public int BatchSize { get; init; } = 64;

    /// <summary>Adam, dense layers.</summary>
    public float DenseLearningRate { get; init; } = 0.001f;

    /// <summary>Adagrad, sparse rows.</summary>
    public float SparseLearningRate { get; init; } = 0.05f;

    public int Seed { get; init; } = 1;
}

/// <summary>
/// Trains the CTR-DNN on all cores: each thread takes minibatches from a shuffled order, runs
/// forward and backward, then updates the shared dense layers (Adam, one thread at a time) and the
/// rows it touched (Adagrad, without locks: Hogwild). Loss is the 2-way softmax cross entropy of
/// the original model.
/// </summary>
internal sealed class CtrTrainer(TrainerState state, TrainerSettings settings)
{
    public TrainerState State { get; } = state;

    public TrainerSettings Settings { get; } = settings;

    /// <summary>One pass over <paramref name="data"/> in a fresh random order; returns the mean
    /// training log loss (measured before each batch's update).</summary>
    public double TrainEpoch(EncodedSamples data, int epoch, EpochProgress? progress = null)
    {
        var order = Enumerable.Range(0, data.Count).ToArray();
        new Random(Settings.Seed + (epoch * 7919)).Shuffle(order);
        var losses = new double[Settings.Threads];
        ForEachBatch(order, (worker, thread, start, length) =>
        {
            var loss = worker.Step(data, order.AsSpan(start, length), Settings);
            losses[thread] += loss;
            progress?.Add(thread, length, loss);
        });
        return losses.Sum() / data.Count;
    }

    /// <summary>P(click) of every sample; <paramref name="values"/> replaces the table's rows (to
    /// predict with the values as they will be served, e.g. after f16 rounding).</summary>
    public float[] Predict(EncodedSamples data, float[]? values = null)
    {
        var scores = new float[data.Count];
        var order = Enumerable.Range(0, data.Count).ToArray();
        ForEachBatch(order, (worker, _, start, length) =>
        {
            var probabilities = worker.Forward(data, order.AsSpan(start, length), values ?? State.Table.RawValues);
            for (var i = 0; i < length; i++)
            {
                scores[start + i] = probabilities[(i * 2) + 1];
            }
        });

        return scores;
    }

    /// <summary>Every thread, with buffers of its own, takes the next minibatch of
    /// <paramref name="order"/> until none is left: body(worker, thread, start, length).</summary>
    private void ForEachBatch(int[] order, Action<Worker, int, int, int> body)
    {
        var batches = (order.Length + Settings.BatchSize - 1) / Settings.BatchSize;
        var next = -1;
        Parallel.For(0, Settings.Threads, new ParallelOptions { MaxDegreeOfParallelism = Settings.Threads }, thread =>
        {
            var worker = new Worker(State, Settings.BatchSize);
            int b;
            while ((b = Interlocked.Increment(ref next)) < batches)
            {
                var start = b * Settings.BatchSize;
                body(worker, thread, start, Math.Min(Settings.BatchSize, order.Length - start));
            }
        });
    }

    /// <summary>One thread's buffers: activations of every layer for a minibatch, gradients,
    /// transposes.</summary>
    private sealed class Worker
    {
        private readonly TrainerState _state;
        private readonly float[][] _activations;
        private readonly float[][] _gradients;
        private readonly float[] _transposed;
        private readonly float[][] _weightGradients;
        private readonly float[][] _biasGradients;

        public Worker(TrainerState state, int batchSize)
        {
            _state = state;
            var widths = new List<int> { state.InputWidth };
            widths.AddRange(state.Layers.Select(l => l.Outputs));
            _activations = widths.Select(w => new float[batchSize * w]).ToArray();
            _gradients = widths.Select(w => new float[batchSize * w]).ToArray();
            var largest = state.Layers.Max(l => l.Inputs * l.Outputs);
            _transposed = new float[Math.Max(largest, widths.Max() * batchSize)];
            _weightGradients = state.Layers.Select(l => new float[l.Inputs * l.Outputs]).ToArray();
            _biasGradients = state.Layers.Select(l => new float[l.Outputs]).ToArray();
        }

        /// <summary>Returns the batch's [m × 2] softmax outputs (a view of the last activation).</summary>
        public ReadOnlySpan<float> Forward(EncodedSamples data, ReadOnlySpan<int> batch, float[] values)
        {
            var m = batch.Length;
            var dim = _state.EmbeddingDim;
            var width = _state.InputWidth;
            var input = _activations[0];
            for (var i = 0; i < m; i++)
            {
                var sample = batch[i];
                var x = input.AsSpan(i * width, width);
                for (var s = 0; s < TrainerState.Slots; s++)
                {
                    var row = data.Rows[(sample * TrainerState.Slots) + s];
                    var slice = x.Slice(s * dim, dim);
                    if (row >= 0)
                    {
                        values.AsSpan(row * dim, dim).CopyTo(slice);
                    }
                    else
                    {
                        slice.Clear();
                    }
                }

                data.Dense.AsSpan(sample * TrainerState.DenseWidth, TrainerState.DenseWidth).CopyTo(x[(TrainerState.Slots * dim)..]);
            }

            var layers = _state.Layers;
            for (var l = 0; l < layers.Count; l++)
            {
                var layer = layers[l];
                var y = _activations[l + 1];
                Gemm.Multiply(_activations[l], layer.Weights, y, m, layer.Inputs, layer.Outputs, accumulate: false);
                var last = l == layers.Count - 1;
                for (var i = 0; i < m; i++)
                {
                    var row = y.AsSpan(i * layer.Outputs, layer.Outputs);
                    for (var j = 0; j < row.Length; j++)
                    {
                        var z = row[j] + layer.Bias[j];
                        row[j] = last || z > 0 ? z : 0;
                    }

                    if (last)
                    {
                        Engine.DenseNetwork.Softmax(row);
                    }
                }
            }

            return _activations[^1].AsSpan(0, m * 2);
        }

        /// <summary>Forward, backward and update for one minibatch; returns its summed log loss.</summary>
        public double Step(EncodedSamples data, ReadOnlySpan<int> batch, TrainerSettings settings)
        {
            var m = batch.Length;
            var table = _state.Table;
            var probabilities = Forward(data, batch, table.RawValues);
            var layers = _state.Layers;

            // d(mean cross entropy)/d(logits) = (p − onehot(y)) / m
            var loss = 0.0;
            var delta = _gradients[^1];
            for (var i = 0; i < m; i++)
            {
                var y = data.Labels[batch[i]];
                var p1 = probabilities[(i * 2) + 1];
                loss -= Math.Log(Math.Clamp(y == 1 ? p1 : 1 - p1, 1e-7, 1.0));
                delta[i * 2] = (probabilities[i * 2] - (1 - y)) / m;
                delta[(i * 2) + 1] = (p1 - y) / m;
            }

            for (var l = layers.Count - 1; l >= 0; l--)
            {
                var layer = layers[l];
                var (inputs, outputs) = (layer.Inputs, layer.Outputs);
                var dz = _gradients[l + 1];

                // dW = Xᵀ · dZ, db = Σ rows of dZ
                Gemm.Transpose(_activations[l], _transposed, m, inputs);
                Gemm.Multiply(_transposed, dz, _weightGradients[l], inputs, m, outputs, accumulate: false);
                var db = _biasGradients[l].AsSpan();
                db.Clear();
                for (var i = 0; i < m; i++)
                {
                    var row = dz.AsSpan(i * outputs, outputs);
                    for (var j = 0; j < outputs; j++)
                    {
                        db[j] += row[j];
                    }
                }

                // dX = dZ · Wᵀ, then through the previous layer's ReLU.
                Gemm.Transpose(layer.Weights, _transposed, inputs, outputs);
                Gemm.Multiply(dz, _transposed, _gradients[l], m, outputs, inputs, accumulate: false);
                if (l > 0)
                {
                    var dx = _gradients[l].AsSpan(0, m * inputs);
                    var x = _activations[l].AsSpan(0, m * inputs);
                    for (var i = 0; i < dx.Length; i++)
                    {
                        if (x[i] <= 0)
                        {
                            dx[i] = 0;
                        }
                    }
                }
            }

            // One thread at a time updates the dense layers: when both threads wrote all 430k
            // weights and moments concurrently after every batch, the cache lines bounced between
            // the cores while the other thread's GEMM read them, and throughput halved at random.
            // The update is a few per cent of a batch, so serialising it costs little.
            lock (_state.DenseUpdateLock)
            {
                var step = ++_state.AdamStep;
                for (var l = 0; l < layers.Count; l++)
                {
                    var layer = layers[l];
                    DenseLayer.Adam(layer.Weights, layer.WeightMoments.First, layer.WeightMoments.Second, _weightGradients[l], settings.DenseLearningRate, step);
                    DenseLayer.Adam(layer.Bias, layer.BiasMoments.First, layer.BiasMoments.Second, _biasGradients[l], settings.DenseLearningRate, step);
                }
            }

            // The input gradient's embedding part updates the rows the batch used.
            var dim = _state.EmbeddingDim;
            var width = _state.InputWidth;
            var values = table.Values;
            var accumulators = table.Accumulators;
            var dirty = table.Dirty;
            for (var i = 0; i < m; i++)
            {
                for (var s = 0; s < TrainerState.Slots; s++)
                {
                    var row = data.Rows[(batch[i] * TrainerState.Slots) + s];
                    if (row < 0)
                    {
                        continue;
                    }

                    Adagrad.Update(values.Slice(row * dim, dim), accumulators.Slice(row * dim, dim), _gradients[0].AsSpan((i * width) + (s * dim), dim), settings.SparseLearningRate);
                    dirty[row] = 1;
                }
            }

            return loss;
        }
    }
}
