// Internal: copying tensor views (any strides) to and from contiguous byte buffers of the same
// dtype, for messages. Rank 3 or 4; the innermost dimension is copied with memcpy when it is
// contiguous.
#pragma once

#include "longctx/core/tensor.hpp"

namespace longctx::dist {

void pack_view(const TensorView& src, char* dst);  // dst: numel · dtype_size bytes
void unpack_view(const char* src, const TensorView& dst);

}  // namespace longctx::dist
