package authcore

// For the tests of package authcore_test, which may import packages that
// import authcore (hashworker).
var BenchUserSessionOverArgon2id = benchUserSessionOverArgon2id
