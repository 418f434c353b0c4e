"""Great Expectations at the edges of a pipeline: suites per output, results as ``EdgeCheck``.

``suites`` finds, reads and checks the suite files; ``checks`` runs them on an output or a DataFrame;
``drafting`` drafts a starter suite from data. Great Expectations itself sits behind one adapter
(``gx.GX``), imported the first time a suite runs, so importing any of these stays light.
"""
