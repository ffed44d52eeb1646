"""How much deconv reads from a kernel or bias source, and the numbers it takes.

Every limit is checked from what a file declares (its size, a header's shape and
dtype, a zip member's uncompressed size) before anything is allocated or read in
full; what cannot be known beforehand is read with a byte cap. The limits follow
from :data:`MAX_KERNEL_TAPS`: a kernel is at most that many float64 values, so

- a binary source (``.npy``, ``.npz``, ``.safetensors``) gives up at most
  :data:`MAX_BINARY_BYTES`: :data:`MAX_DATA_BYTES` of array data (the taps times
  8 bytes) plus :data:`MAX_HEADER_BYTES` for its header, zip directory or JSON
  header. Only the array asked for is read: a large model file with one small
  tensor in it costs no more than that tensor and the header;
- a text source (``.txt``, ``.csv``, ``.mat``) is at most :data:`MAX_TEXT_BYTES`,
  64 bytes a tap: the longest exact float64 text is 24 characters, so this leaves
  room for separators, indentation and comments;
- a source that is not a regular file (a FIFO, a device such as ``/dev/zero``, a
  socket, a directory) is never opened for reading at all.

Every value of a kernel, a bias and a ``.mat`` offset is at most :data:`MAX_VALUE`
in magnitude: deconv computes in float32 by default, and a bias is scaled by up to
65535 (16-bit images) before it is cast, so beyond that float32 arithmetic
overflows where no kernel meant it to.
"""

from __future__ import annotations

#: Larger kernels are refused: beyond this they are a mistake, not a filter.
MAX_KERNEL_TAPS = 1 << 20
#: The most array data a kernel or bias file may declare: MAX_KERNEL_TAPS float64 values (8 MiB).
MAX_DATA_BYTES = MAX_KERNEL_TAPS * 8
#: Room for what surrounds the data: a .npy header, a zip's directory, a .safetensors JSON header (4 MiB).
MAX_HEADER_BYTES = 1 << 22
#: The most bytes read from one binary kernel or bias source (.npy, .npz, .safetensors): 12 MiB.
MAX_BINARY_BYTES = MAX_DATA_BYTES + MAX_HEADER_BYTES
#: The largest text kernel or bias file (.txt, .csv, .mat): 64 bytes a tap, 64 MiB.
MAX_TEXT_BYTES = MAX_KERNEL_TAPS * 64
#: The largest magnitude of a kernel value, a bias or a .mat offset.
MAX_VALUE = 1e30
#: The largest ONNX model file (its protobuf: graph and the weights stored inside it), 2 GiB, protobuf's own
#: limit: ``onnx.load`` parses it whole. Weights in external data files are not part of it: only the
#: tensors of the layer asked for are read from those, within :data:`MAX_DATA_BYTES` each.
MAX_MODEL_BYTES = 1 << 31
