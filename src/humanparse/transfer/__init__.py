"""Pose-guided knowledge transfer (WSHP, Fang et al. CVPR 2018): parsing labels for people who
only have joints, from the labels of labelled people in similar poses. :mod:`.pose` normalises
poses and retrieves similar ones; :mod:`.morph` carries their labels onto the target's bones and
averages them into a per-class prior."""
