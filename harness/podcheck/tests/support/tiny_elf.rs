//! The smallest program a container can run: a static x86-64 Linux ELF that writes a message
//! to stdout and exits 0, assembled here byte by byte, so that a test image needs nothing
//! from the host.

const BASE: u64 = 0x40_0000;
const HEADERS: usize = 64 + 56;

/// `write(1, message, len); exit(0)` as an ELF executable.
pub fn hello(message: &[u8]) -> Vec<u8> {
    let len = u32::try_from(message.len()).expect("a short message");
    let mut code = Vec::new();
    code.extend([0xb8, 1, 0, 0, 0]); // mov eax, 1 (write)
    code.extend([0xbf, 1, 0, 0, 0]); // mov edi, 1 (stdout)
    code.extend([0x48, 0x8d, 0x35]); // lea rsi, [rip + 16]: the message, after the code
    code.extend(16u32.to_le_bytes());
    code.push(0xba); // mov edx, len
    code.extend(len.to_le_bytes());
    code.extend([0x0f, 0x05]); // syscall
    code.extend([0xb8, 60, 0, 0, 0]); // mov eax, 60 (exit)
    code.extend([0x31, 0xff]); // xor edi, edi
    code.extend([0x0f, 0x05]); // syscall
    assert_eq!(
        code.len(),
        33,
        "the lea's displacement counts on this length"
    );
    let total = (HEADERS + code.len() + message.len()) as u64;

    let mut elf = Vec::new();
    elf.extend(b"\x7fELF");
    elf.extend([2, 1, 1, 0]); // 64-bit, little-endian, version 1, System V
    elf.extend([0; 8]);
    elf.extend(2u16.to_le_bytes()); // ET_EXEC
    elf.extend(0x3eu16.to_le_bytes()); // x86-64
    elf.extend(1u32.to_le_bytes());
    elf.extend((BASE + HEADERS as u64).to_le_bytes()); // entry
    elf.extend(64u64.to_le_bytes()); // program headers
    elf.extend(0u64.to_le_bytes()); // no section headers
    elf.extend(0u32.to_le_bytes());
    elf.extend(64u16.to_le_bytes());
    elf.extend(56u16.to_le_bytes());
    elf.extend(1u16.to_le_bytes());
    elf.extend([0; 6]);
    // One PT_LOAD, read + execute, the whole file at BASE.
    elf.extend(1u32.to_le_bytes());
    elf.extend(5u32.to_le_bytes());
    elf.extend(0u64.to_le_bytes());
    elf.extend(BASE.to_le_bytes());
    elf.extend(BASE.to_le_bytes());
    elf.extend(total.to_le_bytes());
    elf.extend(total.to_le_bytes());
    elf.extend(0x1000u64.to_le_bytes());
    assert_eq!(elf.len(), HEADERS);
    elf.extend(code);
    elf.extend(message);
    elf
}
