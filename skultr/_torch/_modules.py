"""Small torch modules shared by the neural estimators."""

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "identity": nn.Identity}


def make_mlp(n_inputs, hidden_layer_sizes, n_outputs=1, *, activation="relu", dropout=0.0):
    """A feed-forward network: ``Linear -> activation [-> Dropout]`` per hidden layer.

    ``hidden_layer_sizes=()`` gives a linear model.
    """
    layers = []
    width = n_inputs
    for size in hidden_layer_sizes:
        layers += [nn.Linear(width, size), ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, n_outputs))
    return nn.Sequential(*layers)


class MatrixFactorization(nn.Module):
    """Logits ``⟨P_u, Q_i⟩ (+ b_u + c_i)`` of a matrix factorisation.

    ``init_std``: standard deviation of the normal initial factors, or ``"uniform"`` for
    factors drawn from U(0, 1) (the kernel-balancing authors' initialisation).
    ``sparse``: the factor and bias tables get sparse gradients (only the rows of a
    batch), for a sparse optimizer.
    """

    def __init__(self, n_users, n_items, n_factors, *, biases, init_std, sparse=False):
        super().__init__()
        self.user_factors = nn.Embedding(n_users, n_factors, sparse=sparse)
        self.item_factors = nn.Embedding(n_items, n_factors, sparse=sparse)
        for table in (self.user_factors.weight, self.item_factors.weight):
            if init_std == "uniform":
                nn.init.uniform_(table, 0.0, 1.0)
            else:
                nn.init.normal_(table, std=init_std)
        self.biases = biases
        if biases:
            self.user_bias = nn.Embedding(n_users, 1, sparse=sparse)
            self.item_bias = nn.Embedding(n_items, 1, sparse=sparse)
            nn.init.zeros_(self.user_bias.weight)
            nn.init.zeros_(self.item_bias.weight)

    def forward(self, users, items):
        logits = (self.user_factors(users) * self.item_factors(items)).sum(-1)
        if self.biases:
            logits = logits + self.user_bias(users)[:, 0] + self.item_bias(items)[:, 0]
        return logits

    def user_table(self):
        """Per-user embedding rows ``[P_u (, b_u)]`` (detached)."""
        parts = [self.user_factors.weight]
        if self.biases:
            parts.append(self.user_bias.weight)
        return torch.cat(parts, dim=1).detach()

    def item_table(self):
        parts = [self.item_factors.weight]
        if self.biases:
            parts.append(self.item_bias.weight)
        return torch.cat(parts, dim=1).detach()
