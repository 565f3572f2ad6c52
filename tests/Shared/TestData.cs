using Appliance.Core.Features;

namespace Appliance.Testing;

/// <summary>Where the repository and its test data are, for every test project.</summary>
public static class TestData
{
    /// <summary>The directory holding Appliance.sln, found upwards from the test assembly.</summary>
    public static string RepositoryRoot
    {
        get
        {
            var dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "Appliance.sln")))
            {
                dir = Path.GetDirectoryName(dir);
            }

            return dir ?? throw new InvalidOperationException($"no Appliance.sln above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>tests/data/criteo-sample-1000.txt (1000 real, unlabelled Criteo rows).</summary>
    public static string CriteoSample
    {
        get
        {
            var path = Path.Combine(RepositoryRoot, "tests", "data", "criteo-sample-1000.txt");
            return File.Exists(path) ? path : throw new FileNotFoundException($"the Criteo sample is expected at {path}");
        }
    }
}
