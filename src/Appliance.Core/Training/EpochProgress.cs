using System.Diagnostics;
using Appliance.Core.Diagnostics;

namespace Appliance.Core.Training;

/// <summary>
/// Where an epoch is, for a <see cref="ProgressMeter"/>: rows trained, the running mean log loss
/// and the rate. Each training thread adds its own minibatches' rows and loss (one interlocked add
/// per minibatch; the loss sits in a slot per thread), the meter reads them.
/// </summary>
internal sealed class EpochProgress(int epoch, int epochs, long rows, int threads)
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly double[] _loss = new double[threads * 8]; // a cache line per thread
    private long _done;

    public long Done => Interlocked.Read(ref _done);

    public double RunningLoss
    {
        get
        {
            var done = Done;
            var loss = 0.0;
            for (var t = 0; t < threads; t++)
            {
                loss += Volatile.Read(ref _loss[t * 8]);
            }

            return done == 0 ? double.NaN : loss / done;
        }
    }

    /// <summary>"epoch 2/5: 410.0 k of 900.0 k rows (152.3 k/s), running log loss 0.4712, ETA 0m03s".</summary>
    public string Describe()
    {
        var done = Done;
        var rate = done / Math.Max(_clock.Elapsed.TotalSeconds, 1e-3);
        return FormattableString.Invariant($"epoch {epoch}/{epochs}: {ProgressMeter.Count(done)} of {ProgressMeter.Count(rows)} rows ({ProgressMeter.Count(rate)}/s), running log loss {RunningLoss:F4} {ProgressMeter.Eta(done, rows, _clock.Elapsed)}").TrimEnd();
    }

    internal void Add(int thread, int rowsDone, double loss)
    {
        Volatile.Write(ref _loss[thread * 8], _loss[thread * 8] + loss); // only this thread writes its slot
        Interlocked.Add(ref _done, rowsDone);
    }
}
