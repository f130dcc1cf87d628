"""nbgrader preprocessors of the course (named in nbgrader_config.py)."""

from nbgrader.preprocessors import NbGraderPreprocessor


class ScrubTracebacks(NbGraderPreprocessor):
    """Reduce every error output of a grade cell to ``ename: evalue``.

    IPython tracebacks quote the source lines around the failing one, and in a grade cell
    those can be the hidden tests that ClearHiddenTests removed from the cell's source.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [
                        f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
                    ]
        return cell, resources
