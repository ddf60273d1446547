"""The data: which data set (sources), fetching and checking its files (download, idx), the
prepared splits and the shape every image has (splits), and the class names (classes)."""
