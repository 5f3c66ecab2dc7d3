import re
import unittest
from pathlib import Path

REVIEW = Path(__file__).resolve().parent.parent / "paper_review.md"
LIMIT = 350


def sections(text):
    """{paper heading: {subsection heading: body}} from '## ' papers and '### ' subsections."""
    papers = {}
    for block in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, rest = block.partition("\n")
        parts = re.split(r"^### (.+)$", rest, flags=re.M)
        papers[title.strip()] = {parts[i].strip(): parts[i + 1] for i in range(1, len(parts), 2)}
    return papers


def word_count(body):
    """Words of the answer, leaving out the quoted question ('>' lines)."""
    return sum(len(line.split()) for line in body.splitlines() if not line.lstrip().startswith(">"))


class TestPaperReview(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.papers = sections(REVIEW.read_text(encoding="utf-8"))

    def test_both_papers_with_review_and_two_questions(self):
        self.assertEqual(len(self.papers), 2)
        titles = " ".join(self.papers)
        self.assertIn("Geirhos", titles)
        self.assertIn("Taskonomy", titles)
        for title, parts in self.papers.items():
            self.assertEqual(list(parts), ["Review", "Question 1", "Question 2"], title)

    def test_word_limits(self):
        for title, parts in self.papers.items():
            for name, body in parts.items():
                with self.subTest(paper=title[:20], section=name):
                    words = word_count(body)
                    self.assertLessEqual(words, LIMIT)
                    self.assertGreater(words, 150)  # a real answer, not a stub

    def test_questions_are_quoted(self):
        for title, parts in self.papers.items():
            for name in ("Question 1", "Question 2"):
                self.assertTrue(parts[name].strip().startswith(">"), f"{title[:20]} {name}")

    def test_key_terms(self):
        geirhos, taskonomy = (self.papers[t] for t in sorted(self.papers, key=lambda t: "Taskonomy" in t))
        for term in ("cue-conflict", "Stylized-ImageNet", "AdaIN", "BagNet", "Shape-ResNet", "ImageNet-C"):
            self.assertIn(term, geirhos["Review"])
        for term in ("26 tasks", "AHP", "BIP", "transfer function", "indoor"):
            self.assertIn(term, taskonomy["Review"])


if __name__ == "__main__":
    unittest.main()
