"""Pictures of a run for people who are not at a terminal: SVG, HTML and GIF.

Each format is a module of its own (svg.py, html.py, gif.py) over what they share: the answer's
cells after a number of steps and where they sit (answer.py), and the colour scales
(shading.py). Torch-free and Textual-free, like core/, on which alone it depends; the GIF
needs Pillow (the `[export]` extra), imported when a GIF is made. The asciicast plays the
player itself, so it lives with the player (tui/cast.py).
"""
