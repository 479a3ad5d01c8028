"""Reference answers to the CNN theory questions, written as code.

Every function here is also the body of a TODO cell in hw2_cnn.ipynb (the notebook build
copies the source with inspect.getsource), so each one may only use `torch` and the
helper `as_float_tensor` defined in the same given cell of the notebook.

Conventions: x is (C, L), the weight W is (F, C, K); the layer is a cross-correlation
f[i, j] = sum_{c, k} W[i, c, k] * x[c, j * stride + k] with no padding, dilation or bias.
"""
import torch


def as_float_tensor(a, like=None):
    """Turns a tensor, numpy array or nested list into a floating tensor.

    Keeps float32/float64 tensors as they are (so gradients and dtypes survive) and takes
    the dtype of `like` when given, so mixed inputs are computed in one dtype.
    """
    t = torch.as_tensor(a)
    if like is not None:
        return t.to(like.dtype)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    return t


def conv_output_shape(C, H, W, K, P, S, D, F):
    """Output shape (F, H_out, W_out) of a KxK convolution with padding P, stride S,
    dilation D and F filters applied to a C x H x W input."""
    # A dilated kernel spans D*(K-1)+1 pixels; floor division is the floor in the formula
    # (the numerator is non-negative whenever the kernel fits in the padded input).
    H_out = (H + 2 * P - D * (K - 1) - 1) // S + 1
    W_out = (W + 2 * P - D * (K - 1) - 1) // S + 1
    return (int(F), int(H_out), int(W_out))


def conv1d_forward(x, W, stride):
    """f_W(x) for x (C, L) and W (F, C, K): returns (F, L_out)."""
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    K = W.shape[2]
    # patches[c, j, k] = x[c, j * stride + k]
    patches = x.unfold(1, K, stride)
    return torch.einsum("ick,cjk->ij", W, patches)


def conv1d_dfdW(x, W, stride):
    """Jacobian df/dW, shape (F, L_out, F, C, K).

    df[i, j] / dW[a, c, k] = [i == a] * x[c, j * stride + k]: output channel i only
    depends on its own filter, through the input patch it sees.
    """
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    F, C, K = W.shape
    patches = x.unfold(1, K, stride)  # (C, L_out, K)
    eye = torch.eye(F, dtype=x.dtype, device=x.device)
    return torch.einsum("ia,cjk->ijack", eye, patches)


def conv1d_dfdx(x, W, stride):
    """Jacobian df/dx, shape (F, L_out, C, L).

    df[i, j] / dx[c, l] = W[i, c, l - j * stride] where 0 <= l - j * stride < K, else 0.
    """
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    F, C, K = W.shape
    L = x.shape[1]
    L_out = (L - K) // stride + 1
    J = torch.zeros(F, L_out, C, L, dtype=x.dtype, device=x.device)
    for j in range(L_out):
        J[:, j, :, j * stride:j * stride + K] = W
    return J


def conv1d_dldW(x, W, stride, dl_df):
    """dl/dW, shape (F, C, K), given dl/df of shape (F, L_out).

    Chain rule through df/dW: dl/dW[i, c, k] = sum_j dl_df[i, j] * x[c, j * stride + k],
    i.e. the cross-correlation of the input with the (strided) output gradient.
    """
    x = as_float_tensor(x)
    W = as_float_tensor(W, like=x)
    dl_df = as_float_tensor(dl_df, like=x)
    K = W.shape[2]
    patches = x.unfold(1, K, stride)  # (C, L_out, K)
    return torch.einsum("ij,cjk->ick", dl_df, patches)


def conv_net_param_count():
    """Parameters (biases included) of: input 224x224x3; Conv3-64, MaxPool, Conv3-128,
    MaxPool, Conv3-256, Conv3-256, MaxPool, FC-1024, FC-1000."""
    # 3x3 convolutions with padding 1 keep the spatial size; each 2x2/2 pool halves it.
    # A conv has 3*3*C_in*C_out weights + C_out biases; a dense layer in*out + out.
    #   Conv3-64 : 3*3*3*64    + 64   =       1,792   (224x224 -> pool -> 112x112)
    #   Conv3-128: 3*3*64*128  + 128  =      73,856   (112x112 -> pool -> 56x56)
    #   Conv3-256: 3*3*128*256 + 256  =     295,168   (56x56)
    #   Conv3-256: 3*3*256*256 + 256  =     590,080   (56x56 -> pool -> 28x28)
    #   FC-1024  : 28*28*256*1024 + 1024 = 205,521,920 (flattened 200,704 features)
    #   FC-1000  : 1024*1000 + 1000   =   1,025,000
    #   total                          = 207,507,816
    convs = [(3, 64), (64, 128), (128, 256), (256, 256)]
    count = sum(3 * 3 * c_in * c_out + c_out for c_in, c_out in convs)
    side = 224 // 2 // 2 // 2
    count += side * side * 256 * 1024 + 1024
    count += 1024 * 1000 + 1000
    return count
