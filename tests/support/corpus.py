"""Small document folders made by the tests: good files with known facts, and broken ones."""

from __future__ import annotations

from pathlib import Path

FACTS = {
    "ports.md": "# Networking\n\n## Qdrant ports\n\nQdrant answers REST on port 6333 and gRPC on port 6334. "
                "The seed keeps the HNSW index in memory until 20000 points.\n\n## Chroma\n\n"
                "Chroma listens on port 8100 in the compose file.\n",
    "gpu.txt": "GPU passthrough on Proxmox needs IOMMU: add intel_iommu=on iommu=pt to the GRUB command line, "
               "then load the vfio-pci module and bind the card by its PCI ID.\n",
}
PDF_PAGES = [
    "Backups of the vector database run every night. Snapshots are kept 7 daily and 4 weekly.",
    "Fine-tuning uses QLoRA with rank 16 and alpha 32 on a single A4000 card.",
]
BROKEN = {"corrupt.pdf": "corrupt or unreadable PDF", "latin1.txt": "not utf-8 text",
          "empty.md": "empty file", "locked.pdf": "encrypted PDF"}


def write_pdf(path: Path, pages: list[str], password: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    if password:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(str(path)))
        writer.encrypt(password, algorithm="RC4-128")
        writer.write(str(path))
    return path


def mixed_folder(root: Path) -> Path:
    """Three good files (md, txt, a two-page pdf) in nested folders, and four broken ones."""
    (root / "guides").mkdir(parents=True)
    (root / "guides" / "ports.md").write_text(FACTS["ports.md"])
    (root / "gpu.txt").write_text(FACTS["gpu.txt"])
    write_pdf(root / "guides" / "ops.pdf", PDF_PAGES)
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage\n%%EOF")
    (root / "latin1.txt").write_bytes("Caf\xe9 cr\xe8me".encode("latin-1"))
    (root / "empty.md").write_text("")
    write_pdf(root / "locked.pdf", ["secret"], password="s3cret")
    (root / "notes.docx").write_bytes(b"not taken: no include glob matches it")
    return root
