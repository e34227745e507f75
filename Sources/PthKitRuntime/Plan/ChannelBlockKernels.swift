import CKernels

/// How a plan holds one [N, C, H, W] activation in memory.
enum ActivationLayout: Sendable, CustomStringConvertible {
    /// Row-major [N, C, H, W]: what every kernel outside the plan, and the plan's caller, sees.
    case nchw
    /// [N, C / 8, H, W, 8] (`PK_CHANNEL_BLOCK`): a pixel's eight channels side by side. The tensor
    /// keeps its [N, C, H, W] shape; only the plan knows its values are ordered this way.
    case channelBlocks

    var description: String { self == .nchw ? "NCHW" : "channel blocks" }
}

/// The plan's steps on channel-blocked activations, over values whose shapes the plan checked.
enum ChannelBlockKernels {
    /// `tensor` [N, C, H, W] rewritten from `layout` into the other layout.
    static func changeLayout(_ tensor: Tensor, from layout: ActivationLayout) -> Tensor {
        let (batch, channels, plane) = dimensions(tensor)
        var output = Kernels.uninitializedBuffer(count: tensor.count)
        tensor.storage.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                if layout == .nchw {
                    pk_to_channel_blocks(source.baseAddress, destination.baseAddress, batch, channels, plane)
                } else {
                    pk_from_channel_blocks(source.baseAddress, destination.baseAddress, batch, channels, plane)
                }
            }
        }
        return Tensor(shape: tensor.shape, storage: output)
    }

    /// Each channel's mean of a channel-blocked [N, C, H, W], as [N, C, 1, 1].
    static func channelMeans(_ tensor: Tensor) -> Tensor {
        let (batch, channels, plane) = dimensions(tensor)
        var output = Kernels.uninitializedBuffer(count: batch * channels)
        tensor.storage.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                pk_channel_blocks_mean(source.baseAddress, destination.baseAddress, batch, channels, plane)
            }
        }
        return Tensor(shape: [batch, channels, 1, 1], storage: output)
    }

    /// Channel-blocked `x` times `scale` [N, C, 1, 1], channel by channel.
    static func multiplyChannels(_ x: Tensor, by scale: Tensor) -> Tensor {
        let (batch, channels, plane) = dimensions(x)
        var output = Kernels.uninitializedBuffer(count: x.count)
        scale.storage.withUnsafeBufferPointer { factors in
            x.storage.withUnsafeBufferPointer { source in
                output.withUnsafeMutableBufferPointer { destination in
                    pk_channel_blocks_scale(source.baseAddress, factors.baseAddress, destination.baseAddress, batch, channels, plane)
                }
            }
        }
        return Tensor(shape: x.shape, storage: output)
    }

    /// `multiplyChannels` written over x's own storage.
    static func scaleChannels(_ x: inout Tensor, by scale: Tensor) {
        let (batch, channels, plane) = dimensions(x)
        scale.storage.withUnsafeBufferPointer { factors in
            x.storage.withUnsafeMutableBufferPointer { values in
                pk_channel_blocks_scale(values.baseAddress, factors.baseAddress, values.baseAddress, batch, channels, plane)
            }
        }
    }

    /// `max_pool2d` of `input` held in `layout`, into `output` in the same layout.
    static func maxPool(_ input: Tensor, shape: pk_pool2d_shape, layout: ActivationLayout, into output: inout [Float]) {
        var shape = shape
        input.storage.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                if layout == .nchw {
                    pk_max_pool2d(&shape, source.baseAddress, destination.baseAddress)
                } else {
                    pk_max_pool2d_blocked(&shape, source.baseAddress, destination.baseAddress)
                }
            }
        }
    }

    /// Piece `piece` of `count` of `channel_shuffle(cat(parts, 1), parts.count)` chunked along the
    /// channels, into `output` of `shape`: parts of `partChannels` channels and pieces of
    /// `pieceChannels`, each maybe held with more (`ChannelPadding`), all in `layout`.
    static func interleaveChannels(
        _ parts: [Tensor], channels partChannels: Int, piece: Int, of count: Int, channels pieceChannels: Int,
        shape: [Int], layout: ActivationLayout, into output: inout [Float]
    ) {
        let (batch, heldChannels, plane) = dimensions(parts[0])
        withBaseAddresses(of: parts[...], collected: []) { partPointers in
            output.withUnsafeMutableBufferPointer { destination in
                var geometry = pk_interleave_shape(
                    parts: parts.count, part_channels: partChannels, part_held: heldChannels, pieces: count,
                    piece_channels: pieceChannels, piece_held: shape[1], batch: batch, plane: plane,
                    blocked: layout == .channelBlocks ? 1 : 0)
                pk_interleave_channels(&geometry, partPointers, piece, destination.baseAddress)
            }
        }
    }

    /// Calls `body` with the base addresses of every tensor's storage, held for the call.
    private static func withBaseAddresses(
        of tensors: ArraySlice<Tensor>, collected: [UnsafePointer<Float>?], _ body: ([UnsafePointer<Float>?]) -> Void
    ) {
        guard let first = tensors.first else { return body(collected) }
        first.storage.withUnsafeBufferPointer { values in
            withBaseAddresses(of: tensors.dropFirst(), collected: collected + [values.baseAddress], body)
        }
    }

    private static func dimensions(_ tensor: Tensor) -> (Int, Int, Int) {
        (tensor.shape[0], tensor.shape[1], tensor.shape[2] * tensor.shape[3])
    }
}
