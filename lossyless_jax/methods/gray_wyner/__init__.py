"""The learnable Gray-Wyner network (Gray-Wyner paper §3–§4) as a method of the loop.

`model`: the five codecs of §3.5 (Shared, Separated, Combined, Independent, Joint) with their
entropy models and task heads; `method`: the config sections, loss, evaluation and registration
of method ``"gray_wyner"``; `report`: the test report with real three-stream files.
"""
