import numpy as np
import pytest

from phyll.data import DataError, Standardizer, load_builtin, load_csv, load_dataset, stratified_split


def test_csv_features_are_the_numeric_columns(blobs_csv):
    data = load_csv(blobs_csv, "kind")
    assert data.feature_names == ["f1", "f2", "f3", "f4"]  # 'id' is text: left out
    assert data.features.shape == (60, 4) and data.features.dtype == np.float32
    assert data.class_names == ["a", "b", "c"]
    assert np.bincount(data.labels).tolist() == [20, 20, 20]


def test_vowels_load(vowels_csv):
    data = load_csv(vowels_csv, "vowel")
    assert data.features.shape == (258, 12)
    assert data.n_classes == 7


@pytest.mark.parametrize("cell, message", [("nan", "not finite"), ("inf", "not finite"),
                                           ("12a", "'12a' is not a number")])
def test_bad_cells_are_named(tmp_path, cell, message):
    path = tmp_path / "bad.csv"
    path.write_text(f"x,y,label\n1,2,a\n3,{cell},b\n5,6,a\n")
    with pytest.raises(DataError, match=message) as info:
        load_csv(path, "label")
    assert "line 3" in str(info.value) and "'y'" in str(info.value)


def test_single_class_is_rejected(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("x,label\n1,a\n2,a\n")
    with pytest.raises(DataError, match="single class"):
        load_csv(path, "label")


def test_missing_label_column_and_file(tmp_path, blobs_csv):
    with pytest.raises(DataError, match="no column 'nope'"):
        load_csv(blobs_csv, "nope")
    with pytest.raises(DataError, match="does not exist"):
        load_csv(tmp_path / "absent.csv", "kind")
    with pytest.raises(DataError, match="--label-column"):
        load_dataset(str(blobs_csv), None)


def test_builtin_default_is_real_data():
    data = load_builtin()
    assert data.features.shape == (178, 13) and data.n_classes == 3


def test_stratified_split_is_seeded_and_keeps_class_shares():
    labels = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, test = stratified_split(labels, 0.2, seed=3)
    again = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])
    assert not set(train) & set(test) and len(train) + len(test) == 100
    assert np.bincount(labels[test]).tolist() == [2, 4, 6, 8]
    assert not np.array_equal(test, stratified_split(labels, 0.2, seed=4)[1])


def test_standardizer_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5, 2, (100, 3)).astype(np.float32)
    test = rng.normal(50, 9, (10, 3)).astype(np.float32)
    scaler = Standardizer.fit(train, clip=0)
    assert np.allclose(scaler.transform(train).mean(0), 0, atol=1e-5)
    assert np.allclose(scaler.mean, train.mean(0), rtol=1e-5)
    assert scaler.transform(test).mean() > 10  # the test split's shift is not hidden


def test_standardizer_clips_outliers_to_a_few_deviations():
    train = np.zeros((100, 2), np.float32)
    train[0, 0] = 50.0  # one rare lit pixel
    train[:, 1] = np.linspace(-1, 1, 100)
    scaler = Standardizer.fit(train)
    out = scaler.transform(train)
    assert out[0, 0] == 3.0 and np.all(np.abs(out) <= 3.0)
    assert np.allclose(out[:, 1], Standardizer.fit(train, clip=0).transform(train)[:, 1])
