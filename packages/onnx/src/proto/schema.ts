import type { INamespace } from "protobufjs/light.js";

/*
 * The subset of the ONNX protobuf schema (onnx/onnx.proto) this project reads and writes, as a protobufjs
 * JSON descriptor. Field numbers and wire types are the schema's; names are camelCase so the decoded
 * messages line up with the TypeScript types in `types.ts`. Anything outside the subset (functions,
 * training info, sparse tensors, sequence/map types, …) is skipped by the decoder as an unknown field.
 *
 * onnx.proto is a proto2 file: every singular field has presence (a zero is written when it is set), and
 * only the `*_data` arrays of TensorProto are declared packed; `dims`, `ints` and `floats` are not.
 */

const repeated = (type: string, id: number, packed = false) => ({
  rule: "repeated",
  type,
  id,
  options: { packed },
});
const optional = (type: string, id: number) => ({ type, id });

/** The descriptor, in protobufjs's JSON form (`Root.fromJSON`). */
export const onnxSchemaJson: INamespace = {
  nested: {
    onnx: {
      edition: "proto2",
      nested: {
        StringStringEntryProto: {
          edition: "proto2",
          fields: {
            key: optional("string", 1),
            value: optional("string", 2),
          },
        },
        OperatorSetIdProto: {
          edition: "proto2",
          fields: {
            domain: optional("string", 1),
            version: optional("int64", 2),
          },
        },
        TensorShapeProto: {
          edition: "proto2",
          fields: {
            dim: repeated("Dimension", 1),
          },
          nested: {
            Dimension: {
              edition: "proto2",
              oneofs: { value: { oneof: ["dimValue", "dimParam"] } },
              fields: {
                dimValue: optional("int64", 1),
                dimParam: optional("string", 2),
                denotation: optional("string", 3),
              },
            },
          },
        },
        TypeProto: {
          edition: "proto2",
          oneofs: { value: { oneof: ["tensorType"] } },
          fields: {
            tensorType: optional("Tensor", 1),
            denotation: optional("string", 6),
          },
          nested: {
            Tensor: {
              edition: "proto2",
              fields: {
                elemType: optional("int32", 1),
                shape: optional("TensorShapeProto", 2),
              },
            },
          },
        },
        ValueInfoProto: {
          edition: "proto2",
          fields: {
            name: optional("string", 1),
            type: optional("TypeProto", 2),
            docString: optional("string", 3),
          },
        },
        TensorProto: {
          edition: "proto2",
          fields: {
            dims: repeated("int64", 1),
            dataType: optional("int32", 2),
            floatData: repeated("float", 4, true),
            int32Data: repeated("int32", 5, true),
            stringData: repeated("bytes", 6),
            int64Data: repeated("int64", 7, true),
            name: optional("string", 8),
            rawData: optional("bytes", 9),
            doubleData: repeated("double", 10, true),
            uint64Data: repeated("uint64", 11, true),
            docString: optional("string", 12),
            externalData: repeated("StringStringEntryProto", 13),
            dataLocation: optional("int32", 14),
          },
        },
        AttributeProto: {
          edition: "proto2",
          fields: {
            name: optional("string", 1),
            f: optional("float", 2),
            i: optional("int64", 3),
            s: optional("bytes", 4),
            t: optional("TensorProto", 5),
            g: optional("GraphProto", 6),
            floats: repeated("float", 7),
            ints: repeated("int64", 8),
            strings: repeated("bytes", 9),
            tensors: repeated("TensorProto", 10),
            graphs: repeated("GraphProto", 11),
            docString: optional("string", 13),
            type: optional("int32", 20),
            refAttrName: optional("string", 21),
          },
        },
        NodeProto: {
          edition: "proto2",
          fields: {
            input: repeated("string", 1),
            output: repeated("string", 2),
            name: optional("string", 3),
            opType: optional("string", 4),
            attribute: repeated("AttributeProto", 5),
            docString: optional("string", 6),
            domain: optional("string", 7),
          },
        },
        GraphProto: {
          edition: "proto2",
          fields: {
            node: repeated("NodeProto", 1),
            name: optional("string", 2),
            initializer: repeated("TensorProto", 5),
            docString: optional("string", 10),
            input: repeated("ValueInfoProto", 11),
            output: repeated("ValueInfoProto", 12),
            valueInfo: repeated("ValueInfoProto", 13),
          },
        },
        ModelProto: {
          edition: "proto2",
          fields: {
            irVersion: optional("int64", 1),
            producerName: optional("string", 2),
            producerVersion: optional("string", 3),
            domain: optional("string", 4),
            modelVersion: optional("int64", 5),
            docString: optional("string", 6),
            graph: optional("GraphProto", 7),
            opsetImport: repeated("OperatorSetIdProto", 8),
            metadataProps: repeated("StringStringEntryProto", 14),
          },
        },
      },
    },
  },
};
