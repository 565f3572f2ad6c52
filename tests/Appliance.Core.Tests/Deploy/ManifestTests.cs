using YamlDotNet.RepresentationModel;

namespace Appliance.Core.Tests.Deploy;

/// <summary>
/// deploy/k8s: every manifest parses as YAML and has apiVersion, kind and a name; the references
/// between them resolve (service account, role, claims, ConfigMaps, Service selector, kustomize
/// files); the Volcano Job has parameter servers and trainers whose gang size fits its replicas.
/// </summary>
public sealed class ManifestTests
{
    private static readonly string Root = Path.Combine(TestData.RepositoryRoot, "deploy", "k8s");

    private static List<YamlMappingNode> Documents()
    {
        var documents = new List<YamlMappingNode>();
        foreach (var file in Directory.GetFiles(Root, "*.yaml").Where(f => Path.GetFileName(f) != "kustomization.yaml"))
        {
            var stream = new YamlStream();
            using (var reader = new StreamReader(file))
            {
                stream.Load(reader);
            }

            foreach (var document in stream.Documents)
            {
                var root = Assert.IsType<YamlMappingNode>(document.RootNode);
                Assert.False(string.IsNullOrEmpty(Text(root, "apiVersion")), $"{file}: a document without apiVersion");
                Assert.False(string.IsNullOrEmpty(Text(root, "kind")), $"{file}: a document without kind");
                Assert.False(string.IsNullOrEmpty(Text(root, "metadata", "name")), $"{file}: a {Text(root, "kind")} without metadata.name");
                documents.Add(root);
            }
        }

        return documents;
    }

    private static string? Text(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(key), out var child))
            {
                return null;
            }

            node = child;
        }

        return (node as YamlScalarNode)?.Value;
    }

    private static YamlNode? Node(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(key), out var child))
            {
                return null;
            }

            node = child;
        }

        return node;
    }

    private static IEnumerable<YamlNode> Items(YamlNode? node) => node is YamlSequenceNode s ? s.Children : [];

    private static HashSet<string> Names(List<YamlMappingNode> documents, string kind) =>
        documents.Where(d => Text(d, "kind") == kind).Select(d => Text(d, "metadata", "name")!).ToHashSet();

    [Fact]
    public void EveryManifestParsesAndIsNamed() =>
        Assert.Contains(Documents(), d => Text(d, "kind") == "Job" && Text(d, "apiVersion") == "batch.volcano.sh/v1alpha1");

    [Fact]
    public void VolcanoJobHasParameterServersAndTrainersItsRoleAndVolumesExist()
    {
        var documents = Documents();
        var job = documents.Single(d => Text(d, "kind") == "Job" && Text(d, "metadata", "name") == "ctr-train");
        var tasks = Items(Node(job, "spec", "tasks")).ToList();
        Assert.Equal(["pserver", "trainer"], tasks.Select(t => Text(t, "name")).Order());
        var replicas = tasks.Sum(t => int.Parse(Text(t, "replicas")!, System.Globalization.CultureInfo.InvariantCulture));
        var minAvailable = int.Parse(Text(job, "spec", "minAvailable")!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(minAvailable, 1, replicas);
        Assert.Equal("volcano", Text(job, "spec", "schedulerName"));

        var accounts = Names(documents, "ServiceAccount");
        var claims = Names(documents, "PersistentVolumeClaim");
        var configMaps = Names(documents, "ConfigMap");
        configMaps.UnionWith(KustomizeGenerated());
        foreach (var task in tasks)
        {
            var pod = Node(task, "template", "spec")!;
            Assert.Contains(Text(pod, "serviceAccountName")!, accounts);
            foreach (var volume in Items(Node(pod, "volumes")))
            {
                if (Text(volume, "persistentVolumeClaim", "claimName") is { } claim)
                {
                    Assert.Contains(claim, claims);
                }

                if (Text(volume, "configMap", "name") is { } map)
                {
                    Assert.Contains(map, configMaps);
                }
            }

            var envs = Items(Node(pod, "containers")).SelectMany(c => Items(Node(c, "env"))).Select(e => Text(e, "name")).ToHashSet();
            Assert.Contains("TRAINING_ROLE", envs);
            Assert.Contains("PADDLE_PSERVERS_IP_PORT_LIST", envs);
        }

        var roles = Names(documents, "Role");
        foreach (var binding in documents.Where(d => Text(d, "kind") == "RoleBinding"))
        {
            Assert.Contains(Text(binding, "roleRef", "name")!, roles);
            Assert.All(Items(Node(binding, "subjects")), s => Assert.Contains(Text(s, "name")!, accounts));
        }
    }

    /// <summary>The PyTorch job: workers whose gang is the --nnodes torch.distributed.run is told,
    /// rendezvous at worker 0's Volcano DNS name, the trainer and the writer from the ConfigMap.</summary>
    [Fact]
    public void TorchJobsWorkersAreTheNodesItsRendezvousExpects()
    {
        var documents = Documents();
        var job = documents.Single(d => Text(d, "kind") == "Job" && Text(d, "metadata", "name") == "ctr-train-torch");
        var worker = Assert.Single(Items(Node(job, "spec", "tasks")));
        var replicas = Text(worker, "replicas")!;
        Assert.Equal(replicas, Text(job, "spec", "minAvailable"));
        var command = string.Join(' ', Items(Node(worker, "template", "spec", "containers")).SelectMany(c => Items(Node(c, "args"))).Select(a => ((YamlScalarNode)a).Value));
        Assert.Contains($"--nnodes {replicas} ", command, StringComparison.Ordinal);
        Assert.Contains("--master_addr ctr-train-torch-worker-0.ctr-train-torch ", command, StringComparison.Ordinal);
        Assert.Contains("/opt/ctr/train_torch.py", command, StringComparison.Ordinal);
        Assert.Contains("ctr-train-code", KustomizeGenerated());
        Assert.True(File.Exists(Path.Combine(Root, "scripts", "train_torch.py")));
        Assert.Contains(Text(Node(worker, "template", "spec")!, "serviceAccountName")!, Names(documents, "ServiceAccount"));
    }

    [Fact]
    public void FileServerServiceSelectsItsDeployment()
    {
        var documents = Documents();
        var service = documents.Single(d => Text(d, "kind") == "Service");
        var deployment = documents.Single(d => Text(d, "kind") == "Deployment");
        var selector = (YamlMappingNode)Node(service, "spec", "selector")!;
        var labels = (YamlMappingNode)Node(deployment, "spec", "template", "metadata", "labels")!;
        foreach (var (key, value) in selector.Children)
        {
            Assert.Equal(((YamlScalarNode)value).Value, Text(labels, ((YamlScalarNode)key).Value!));
        }

        var claims = Names(documents, "PersistentVolumeClaim");
        Assert.All(Items(Node(deployment, "spec", "template", "spec", "volumes")).Select(v => Text(v, "persistentVolumeClaim", "claimName")).OfType<string>(), c => Assert.Contains(c, claims));
    }

    /// <summary>ConfigMaps the kustomization generates; every resource and file it names exists.</summary>
    private static IEnumerable<string> KustomizeGenerated()
    {
        var stream = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Root, "kustomization.yaml")))
        {
            stream.Load(reader);
        }

        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        foreach (var resource in Items(Node(root, "resources")))
        {
            Assert.True(File.Exists(Path.Combine(Root, ((YamlScalarNode)resource).Value!)), $"kustomization names a missing resource {resource}");
        }

        foreach (var generator in Items(Node(root, "configMapGenerator")))
        {
            foreach (var file in Items(Node(generator, "files")))
            {
                Assert.True(File.Exists(Path.Combine(Root, ((YamlScalarNode)file).Value!)), $"kustomization names a missing file {file}");
            }

            yield return Text(generator, "name")!;
        }
    }
}
