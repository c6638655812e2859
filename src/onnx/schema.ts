// The subset of onnx.proto (ONNX IR) the exporter writes and the checker reads, as a protobufjs JSON descriptor.
import protobuf from 'protobufjs';

// Field numbers and types copied from onnx/onnx.proto (IR version 10); messages and fields we never
// write (training info, sparse tensors, functions, external data) are left out: a decoder skips them.
const f = (type: string, id: number, rule?: 'repeated'): { type: string; id: number; rule?: string } =>
  rule === undefined ? { type, id } : { type, id, rule };

const DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: f('string', 1),
            type: f('int32', 20),
            f: f('float', 2),
            i: f('int64', 3),
            s: f('bytes', 4),
            t: f('TensorProto', 5),
            floats: f('float', 7, 'repeated'),
            ints: f('int64', 8, 'repeated'),
          },
        },
        ValueInfoProto: { fields: { name: f('string', 1), type: f('TypeProto', 2), doc_string: f('string', 3) } },
        NodeProto: {
          fields: {
            input: f('string', 1, 'repeated'),
            output: f('string', 2, 'repeated'),
            name: f('string', 3),
            op_type: f('string', 4),
            domain: f('string', 7),
            attribute: f('AttributeProto', 5, 'repeated'),
            doc_string: f('string', 6),
          },
        },
        ModelProto: {
          fields: {
            ir_version: f('int64', 1),
            opset_import: f('OperatorSetIdProto', 8, 'repeated'),
            producer_name: f('string', 2),
            producer_version: f('string', 3),
            doc_string: f('string', 6),
            graph: f('GraphProto', 7),
            metadata_props: f('StringStringEntryProto', 14, 'repeated'),
          },
        },
        StringStringEntryProto: { fields: { key: f('string', 1), value: f('string', 2) } },
        GraphProto: {
          fields: {
            node: f('NodeProto', 1, 'repeated'),
            name: f('string', 2),
            initializer: f('TensorProto', 5, 'repeated'),
            doc_string: f('string', 10),
            input: f('ValueInfoProto', 11, 'repeated'),
            output: f('ValueInfoProto', 12, 'repeated'),
            value_info: f('ValueInfoProto', 13, 'repeated'),
          },
        },
        TensorProto: {
          fields: {
            dims: f('int64', 1, 'repeated'),
            data_type: f('int32', 2),
            float_data: f('float', 4, 'repeated'),
            int64_data: f('int64', 7, 'repeated'),
            name: f('string', 8),
            raw_data: f('bytes', 9),
          },
        },
        TensorShapeProto: {
          fields: { dim: f('Dimension', 1, 'repeated') },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dim_value', 'dim_param'] } },
              fields: { dim_value: f('int64', 1), dim_param: f('string', 2), denotation: f('string', 3) },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensor_type'] } },
          fields: { tensor_type: f('Tensor', 1), denotation: f('string', 6) },
          nested: { Tensor: { fields: { elem_type: f('int32', 1), shape: f('TensorShapeProto', 2) } } },
        },
        OperatorSetIdProto: { fields: { domain: f('string', 1), version: f('int64', 2) } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(DESCRIPTOR);

/** onnx.ModelProto: encode/decode/verify a model (plain objects with the proto's snake_case field names). */
export const ModelProto = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;
/** AttributeProto.AttributeType values used here. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** The IR version that goes with an opset of the default domain (onnx/helper.py's VERSION_TABLE). */
export function irVersionFor(opset: number): number {
  if (opset >= 23) return 11;
  if (opset >= 21) return 10;
  if (opset >= 19) return 9;
  return 8;
}
