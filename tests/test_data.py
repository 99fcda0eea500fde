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


def test_a_non_utf8_csv_is_named_with_its_line(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("x,label\n1,a\n2,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8") as info:
        load_csv(path, "label")
    assert str(path) in str(info.value) and "line 3 has byte 0xe9" in str(info.value)


def test_a_directory_or_a_binary_file_is_named_for_what_it_is(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        load_csv(tmp_path, "label")
    path = tmp_path / "huge-field.csv"
    path.write_text("x,label\n1,a\n2," + "b" * 200_000 + "\n")
    with pytest.raises(DataError, match="line 3 is not CSV: field larger than field limit") as info:
        load_csv(path, "label")
    assert str(path) in str(info.value)


def test_a_value_beyond_float32_is_refused(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("x,label\n1,a\n1e39,b\n")
    with pytest.raises(DataError, match="line 3, column 'x': value '1e39' is beyond float32"):
        load_csv(path, "label")


def test_line_numbers_count_blank_lines_and_a_bom_is_no_column_name(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_bytes("\ufeffx,label\n1,a\n\n ,\n2,b\n3,oops,c\n".encode("utf-8"))
    with pytest.raises(DataError, match="line 6 has 3 fields"):
        load_csv(path, "label")
    path.write_bytes("\ufeffx,label\n1,a\n\n ,\n2,b\n".encode("utf-8"))
    data = load_csv(path, "label")
    assert data.feature_names == ["x"] and data.labels.tolist() == [0, 1]


def test_blocks_of_rows_read_as_one(tmp_path, monkeypatch, blobs_csv):
    whole = load_csv(blobs_csv, "kind")
    monkeypatch.setattr("phyll.data._CSV_BLOCK_ROWS", 7)
    blocks = load_csv(blobs_csv, "kind")
    assert np.array_equal(whole.features, blocks.features) and np.array_equal(whole.labels, blocks.labels)
    assert blocks.feature_names == whole.feature_names and blocks.class_names == whole.class_names
    # A column that is text in the first blocks and numeric later is an error at its first text cell.
    path = tmp_path / "late.csv"
    path.write_text("x,y,label\n" + "".join(f"{i},{'n/a' if i < 10 else i},{'ab'[i % 2]}\n" for i in range(30)))
    with pytest.raises(DataError, match="line 2, column 'y': 'n/a' is not a number"):
        load_csv(path, "label")


def test_a_test_fraction_that_leaves_no_test_rows_is_refused():
    with pytest.raises(DataError, match="leaves no test rows.*--test-fraction"):
        stratified_split(np.repeat([0, 1, 2], 20), 0.01, seed=0)


def test_standardizer_in_blocks_is_numpys_mean_and_std(monkeypatch):
    monkeypatch.setattr("phyll.data._ROW_BLOCK", 16)
    rng = np.random.default_rng(2)
    features = (rng.normal(3, 2, (100, 4)) * [1, 1e3, 1e-3, 10]).astype(np.float32)
    rows = rng.permutation(100)[:70]
    scaler = Standardizer.fit(features, clip=0, rows=rows)
    np.testing.assert_allclose(scaler.mean, features[rows].mean(0, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(scaler.scale, features[rows].std(0, dtype=np.float64), rtol=1e-6)
    assert np.array_equal(scaler.transform(features, rows), scaler.transform(features[rows]))
