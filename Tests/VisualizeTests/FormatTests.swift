import XCTest
@testable import Visualize

final class FormatTests: XCTestCase {
    func testEnergyUnits() {
        XCTAssertEqual(formatEnergy(picojoules: 0.9), "0.90 pJ")
        XCTAssertEqual(formatEnergy(picojoules: 812), "812 pJ")
        XCTAssertEqual(formatEnergy(picojoules: 1482.1), "1.48 nJ")
        XCTAssertEqual(formatEnergy(picojoules: 3_234_390), "3.23 uJ")
        XCTAssertEqual(formatEnergy(picojoules: 14_138_060), "14.1 uJ")
        XCTAssertEqual(formatEnergy(picojoules: 2.5e9), "2.50 mJ")
    }

    func testCounts() {
        XCTAssertEqual(formatCount(950), "950")
        XCTAssertEqual(formatCount(12_345), "12.3k")
        XCTAssertEqual(formatCount(3_039_964), "3.04M")
        XCTAssertEqual(formatCount(1.2e9), "1.20G")
    }
}
