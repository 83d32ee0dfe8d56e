"""Analysts' verdicts on alert episodes: the only ground truth a real platform has. The
latest verdict per episode (`book`), each rule's precision from them (`report`), and the
verdicts topic (`topic`)."""
