"""Reference solution of the CNN part of hw2_cnn.ipynb (the project's offline version).

The notebook trains on reference/res/image_data.py (3x32x32 discs vs squares); the model
ends in global average pooling so it also accepts the course's 256x256 images, which lets
the grader probe it with either size.
"""
import torch
from torch import nn

# Reference training choices (the notebook's TODO constants).
N_EPOCHS = 6
BATCH_SIZE = 64
LEARNING_RATE = 3e-3


class CNN(torch.nn.Module):
    """A CNN classifying images: forward(x) maps x float (B, 3, H, W) to logits (B, 2).

    Reference design: a conv-BN-ReLU stem, one residual block, pooling, a second conv
    stage, global average pooling and a linear head.
    """

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 16, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(),
        )
        # Residual block: out = relu(x + bn(conv(relu(bn(conv(x)))))).
        self.res_conv1 = nn.Conv2d(16, 16, kernel_size=3, padding=1, bias=False)
        self.res_bn1 = nn.BatchNorm2d(16)
        self.res_conv2 = nn.Conv2d(16, 16, kernel_size=3, padding=1, bias=False)
        self.res_bn2 = nn.BatchNorm2d(16)
        self.stage2 = nn.Sequential(
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 32, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 2)

    def forward(self, x):
        x = self.stem(x)
        r = torch.relu(self.res_bn1(self.res_conv1(x)))
        x = torch.relu(x + self.res_bn2(self.res_conv2(r)))
        x = self.stage2(x)
        return self.fc(torch.flatten(self.pool(x), 1))


def get_loss_and_correct(model, batch, criterion, device):
    """(loss tensor, number of correct predictions as a tensor) for one (x, y) batch."""
    data, target = batch
    data, target = data.to(device), target.to(device)
    output = model(data)
    loss = criterion(output, target)
    correct = (output.argmax(dim=1) == target).sum()
    return loss, correct


def step(loss, optimizer):
    """One optimisation step: clear old gradients, backpropagate, update."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def make_criterion():
    return torch.nn.CrossEntropyLoss()


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)


def evaluate(model, loader, criterion, device):
    """(mean loss, accuracy) of a model on a loader, in eval mode and without gradients."""
    model.eval()
    total_loss, total_correct, total = 0.0, 0, 0
    with torch.no_grad():
        for batch in loader:
            loss, correct = get_loss_and_correct(model, batch, criterion, device)
            total_loss += loss.item() * len(batch[1])
            total_correct += correct.item()
            total += len(batch[1])
    return total_loss / total, total_correct / total


def train_cnn(model, train_loader, val_loader, criterion, optimizer, n_epochs, device,
              verbose=True):
    """The notebook's training loop; returns per-epoch histories of loss and accuracy."""
    history = {"train_loss": [], "train_acc": [], "val_loss": [], "val_acc": []}
    for epoch in range(n_epochs):
        model.train()
        total_loss, total_correct, total = 0.0, 0, 0
        for batch in train_loader:
            loss, correct = get_loss_and_correct(model, batch, criterion, device)
            step(loss, optimizer)
            total_loss += loss.item() * len(batch[1])
            total_correct += correct.item()
            total += len(batch[1])
        val_loss, val_acc = evaluate(model, val_loader, criterion, device)
        history["train_loss"].append(total_loss / total)
        history["train_acc"].append(total_correct / total)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if verbose:
            print(f"epoch {epoch + 1}/{n_epochs}: train loss {total_loss / total:.3f} "
                  f"acc {total_correct / total:.3f} | val loss {val_loss:.3f} acc {val_acc:.3f}")
    return history
