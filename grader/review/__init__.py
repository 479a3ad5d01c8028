"""`grader review OUT`: the TA's web application over a graded class (issue 17).

grader.review.app (the Starlette application and its token gate), grader.review.state (the
class, the queue, saving and publishing), grader.review.pdf (the theory PDF rendered in the
sandbox), grader.review.sources (the student's zip read as data), grader.review.cli (the
command). Decisions go to the TA journal, grader.batch.ta_journal.
"""
