"""Study mode: flashcards made from the notes, reviewed on an FSRS schedule.

The way of the data, one module each:

    notes -> cards.py     Card records, a pure function of the notes (sections.py reads the
                          Markdown blocks, rules.py holds each kind's text rules)
          -> deck.py      a SQLite deck: cards, review state, every review, one file
                          (schema.py: its tables, their migrations and the columns of the
                          student's edits, suspensions, deletions, cards by hand; rows.py:
                          a card row as a record; review_log.py: the reviews, undo, the
                          merge of Anki's; edits.py: the student's changes; sync.py plans
                          a rebuild; storage.py: path, integrity, backup; records.py: what
                          the deck hands out)
          -> browse.py    the card browser: find by text, note or tag; a card by hand
          -> schedule.py  the next due date of a reviewed card (``fsrs``, FSRS-6)
          -> quiz.py      a session of due cards, free-text grading, multiple choice
          -> stats.py     due today/this week, reviews per day, retention by note; a PNG
          -> export.py    Anki .apkg (genanki) with each card's schedule and reviews
                          (anki_format.py: Anki's collection fields), and CSV
          <- anki_import.py  an Anki .apkg/.colpkg's reviews merged back into the deck
                          (merge.py: which reviews are new; schedule.replay: the state)
    assistant/cli/study.py holds the ``cards`` and ``study`` subcommands the CLI
    registers; assistant/web/study_desk.py the app's Estudiar tab without Gradio
    (assistant/web/card_html.py: what it shows).

A card's id is a hash of its kind and the note text it was taken from, so rebuilding the
deck after an unrelated edit keeps every card and its history (``Deck.sync``).
"""
