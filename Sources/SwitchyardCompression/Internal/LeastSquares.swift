import COpenBLAS

/// Least squares through LAPACK's `sgelsd` (SVD, so rank-deficient problems, such as units that never fire, get the
/// minimum-norm answer instead of a failure).
enum LeastSquares {
    /// Solves `min ‖A·X − B‖` for X.
    /// - Parameters:
    ///   - a: row-major `rows × columns`.
    ///   - b: row-major `rows × targets`.
    /// - Returns: row-major `columns × targets`.
    static func solve(
        _ a: [Float],
        rows: Int,
        columns: Int,
        _ b: [Float],
        targets: Int
    ) throws(CompressionError) -> [Float] {
        var m = Int32(rows)
        var n = Int32(columns)
        var nrhs = Int32(targets)
        var lda = Int32(max(rows, 1))
        var ldb = Int32(max(rows, columns, 1))
        // Column-major copies; B gets room for the `columns × targets` answer.
        var aColumns = [Float](repeating: 0, count: rows * columns)
        for row in 0..<rows {
            for column in 0..<columns { aColumns[column * rows + row] = a[row * columns + column] }
        }
        var bColumns = [Float](repeating: 0, count: Int(ldb) * targets)
        for row in 0..<rows {
            for target in 0..<targets { bColumns[target * Int(ldb) + row] = b[row * targets + target] }
        }
        var singular = [Float](repeating: 0, count: max(min(rows, columns), 1))
        var rcond: Float = 1e-6
        var rank: Int32 = 0
        var info: Int32 = 0
        var query: Float = 0
        var lwork: Int32 = -1
        var iworkQuery: Int32 = 0
        sgelsd_(
            &m,
            &n,
            &nrhs,
            &aColumns,
            &lda,
            &bColumns,
            &ldb,
            &singular,
            &rcond,
            &rank,
            &query,
            &lwork,
            &iworkQuery,
            &info
        )
        guard info == 0 else { throw CompressionError(.engine, "sgelsd workspace query failed (info \(info))") }
        lwork = Int32(query) + 1
        var work = [Float](repeating: 0, count: Int(lwork))
        var iwork = [Int32](repeating: 0, count: max(Int(iworkQuery), 1))
        sgelsd_(&m, &n, &nrhs, &aColumns, &lda, &bColumns, &ldb, &singular, &rcond, &rank, &work, &lwork, &iwork, &info)
        guard info == 0 else { throw CompressionError(.engine, "sgelsd did not converge (info \(info))") }
        var x = [Float](repeating: 0, count: columns * targets)
        for column in 0..<columns {
            for target in 0..<targets { x[column * targets + target] = bColumns[target * Int(ldb) + column] }
        }
        return x
    }
}
