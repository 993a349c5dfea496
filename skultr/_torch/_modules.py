"""Small torch modules shared by the neural estimators."""

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
