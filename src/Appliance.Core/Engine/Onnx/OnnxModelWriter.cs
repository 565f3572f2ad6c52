using System.Runtime.InteropServices;

namespace Appliance.Core.Engine.Onnx;

/// <summary>
/// Writes a <see cref="DenseNetwork"/> as an ONNX model (IR 8, opset 17) from C#:
/// <code>
/// inputs   embeddings float [N, slots × dim]   dense float [N, denseWidth]
/// graph    x = Concat(embeddings, dense, axis 1)
///          per layer: Gemm(x, W_l, b_l) then Relu / Softmax(axis 1) / Sigmoid
/// output   prob float [N, outputs]
/// </code>
/// Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto,
/// ValueInfoProto, TypeProto, TensorShapeProto, AttributeProto, OperatorSetIdProto).
/// </summary>
internal static class OnnxModelWriter
{
    public const string EmbeddingsInput = "embeddings";
    public const string DenseInput = "dense";
    public const string Output = "prob";

    private const int FloatType = 1;
    private const int AttributeInt = 2;

    public static byte[] Write(DenseNetwork network)
    {
        var model = new ProtoWriter();
        model.Varint(1, 8);                            // ir_version
        model.String(2, "cube");                       // producer_name
        model.Message(7, graph => WriteGraph(graph, network));
        model.Message(8, opset =>                      // opset_import
        {
            opset.String(1, string.Empty);
            opset.Varint(2, 17);
        });
        return model.ToArray();
    }

    private static void WriteGraph(ProtoWriter graph, DenseNetwork network)
    {
        graph.Message(1, node => Node(node, "Concat", [EmbeddingsInput, DenseInput], ["x0"], ("axis", 1)));
        var x = "x0";
        for (var l = 0; l < network.Layers.Count; l++)
        {
            var layer = network.Layers[l];
            var gemm = $"gemm{l}";
            graph.Message(1, node => Node(node, "Gemm", [x, $"w{l}", $"b{l}"], [gemm]));
            var next = l == network.Layers.Count - 1 ? Output : $"x{l + 1}";
            switch (layer.Activation)
            {
                case MlpLayer.Relu:
                    graph.Message(1, node => Node(node, "Relu", [gemm], [next]));
                    break;
                case MlpLayer.Softmax:
                    graph.Message(1, node => Node(node, "Softmax", [gemm], [next], ("axis", 1)));
                    break;
                case MlpLayer.Sigmoid:
                    graph.Message(1, node => Node(node, "Sigmoid", [gemm], [next]));
                    break;
                default:
                    graph.Message(1, node => Node(node, "Identity", [gemm], [next]));
                    break;
            }

            x = next;
        }

        graph.String(2, "ctr_dnn");
        for (var l = 0; l < network.Layers.Count; l++)
        {
            var layer = network.Layers[l];
            graph.Message(5, t => Tensor(t, $"w{l}", [layer.Inputs, layer.Outputs], layer.Weights));
            graph.Message(5, t => Tensor(t, $"b{l}", [layer.Outputs], layer.Bias));
        }

        graph.Message(11, v => ValueInfo(v, EmbeddingsInput, network.Slots * network.EmbeddingDim));
        graph.Message(11, v => ValueInfo(v, DenseInput, network.DenseWidth));
        graph.Message(12, v => ValueInfo(v, Output, network.OutputWidth));
    }

    private static void Node(ProtoWriter node, string op, string[] inputs, string[] outputs, (string Name, long Value)? attribute = null)
    {
        foreach (var input in inputs)
        {
            node.String(1, input);
        }

        foreach (var output in outputs)
        {
            node.String(2, output);
        }

        node.String(3, outputs[0] + "_" + op);
        node.String(4, op);
        if (attribute is { } a)
        {
            node.Message(5, attr =>
            {
                attr.String(1, a.Name);
                attr.Varint(3, a.Value);
                attr.Varint(20, AttributeInt);
            });
        }
    }

    private static void Tensor(ProtoWriter tensor, string name, long[] dims, float[] values)
    {
        foreach (var d in dims)
        {
            tensor.Varint(1, d);
        }

        tensor.Varint(2, FloatType);
        tensor.String(8, name);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("raw_data is little-endian");
        }

        tensor.Bytes(9, MemoryMarshal.AsBytes(values.AsSpan()));
    }

    /// <summary>A float tensor of shape ["N", width].</summary>
    private static void ValueInfo(ProtoWriter value, string name, int width)
    {
        value.String(1, name);
        value.Message(2, type => type.Message(1, tensor =>
        {
            tensor.Varint(1, FloatType);
            tensor.Message(2, shape =>
            {
                shape.Message(1, dim => dim.String(2, "N"));
                shape.Message(1, dim => dim.Varint(1, width));
            });
        }));
    }
}
