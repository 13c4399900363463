"""sphinx-gallery hooks of the docs build (conf.py names them by import path)."""


def quick_argv(gallery_conf, script_vars):
    """Every example runs at its small size in the docs build (``--quick``).

    Run as a script (``python examples/plot_...py``) an example takes its
    full size; the docs build passes ``--quick`` so that ``make docs`` executes
    the whole gallery in a few minutes on 2 CPU cores.
    """
    return ["--quick"]
